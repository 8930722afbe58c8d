"""The compose tier: docker-compose.yml on a real container engine, as a new user runs it.

`docker-compose build`, `up` with no `.env` (the offline writer, a key of the install's own),
then only what a browser does through the proxy's published port: sign-up with CSRF, entries
streamed over real WebSockets, three replicas sharing generations, a `watch` through another
replica, a replica stopped and the service restarted mid-stream, Retry, `down` and `up` with
the data kept, and logs free of tracebacks. Which replica served what is read from that
container's own log (tests/support/compose.py).

The tests share one stack and run in file order, only when selected (`-m compose`, as
`make test-compose` does). Without a Docker engine they are skipped, except in CI (CI set),
where they fail. Without an image registry, build the base images
first: docker/local-images/build.sh. Figures go to test-artifacts/compose.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import httpx2
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.compose import Stack, engine_missing
from tests.support.pages import entry_page
from tests.support.servers import INPUTS, ROOT, frames_until

pytestmark = [pytest.mark.compose, pytest.mark.timeout(2400)]

# The offline writer at 0.15 s a word: an entry streams for about 15 s, long enough to stop a
# replica in the middle. Everything else is the compose file's default.
STREAM_ENV = {"DIARY_OFFLINE_DELAY": "0.15"}
GRACE = "30"  # the compose file's stop_grace_period for web


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    if not request.config.getoption("markexpr"):
        # Minutes of image builds and containers: only when asked for (make test-compose).
        pytest.skip("compose tier: selected with -m compose (make test-compose)")
    reason = engine_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"compose tier: {reason}")
        pytest.skip(f"compose tier: {reason}")
    stack = Stack("nikkicompose", tmp_path_factory.mktemp("compose"), **STREAM_ENV)
    stack.timings, stack.users, stack.entries = {}, {}, {}
    stack.run("down", "--volumes", "--remove-orphans", "--timeout", GRACE, check=False)
    try:
        started = time.monotonic()
        stack.run("build", timeout=2400)
        stack.timings["build_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        stack.run("up", "--detach", timeout=900)
        stack.timings["up_s"] = round(time.monotonic() - started, 1)
        yield stack
    finally:
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        (artifacts / "compose-stack.log").write_text(
            stack.run("logs", "--no-color", "--timestamps", check=False)
        )
        started = time.monotonic()
        stack.run("down", "--volumes", "--remove-orphans", "--timeout", GRACE, check=False)
        stack.timings["down_volumes_s"] = round(time.monotonic() - started, 1)
        (artifacts / "compose.json").write_text(json.dumps(stack.timings, indent=2))


def user(stack: Stack, name: str) -> str:
    """The session cookie of `name`, signed up through the proxy the first time."""
    if name not in stack.users:
        stack.users[name] = stack.signup(name)
    return stack.users[name]


async def start(stack: Stack, cookie: str, *, avoid: str | None = None, **message):
    """Open a socket (on a replica other than `avoid`), send `generate`; the socket, its
    replica and the `started` frame."""
    ws, replica = await socket_on(stack, cookie, avoid=avoid)
    await ws.send(json.dumps(message or INPUTS))
    started = (await frames_until(ws, "started", timeout=30))[-1]
    return ws, replica, started


async def socket_on(stack: Stack, cookie: str, *, avoid: str | None = None):
    """A socket through the proxy on any replica but `avoid` (the proxy spreads sockets).

    Right after a replica stops, the proxy may still pick its address (it re-resolves `web`
    every 5 s) and answer 502: the page reconnects after a pause, and so does this."""
    for _ in range(10):
        try:
            ws, replica = await stack.socket(cookie)
        except InvalidStatus as exc:
            if exc.response.status_code != 502:
                raise
            await asyncio.sleep(1.0)
            continue
        if replica != avoid:
            return ws, replica
        await ws.close()
    raise AssertionError(f"the proxy sent ten sockets in a row to {stack.name(avoid)}")


def assert_no_gap(frames: list[dict], done: dict) -> dict:
    """A watcher's frames: a snapshot, then every delta after it once, adding up to `done`."""
    snapshot = next(f for f in frames if f["type"] == "snapshot")
    deltas = [f for f in frames if f["type"] == "delta"]
    seqs = [f["seq"] for f in deltas]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))
    assert snapshot["text"] + "".join(f["text"] for f in deltas) == done["text"]
    return snapshot


def test_up_serves_healthz_through_the_proxy_with_a_key_of_its_own(stack):
    stack.timings["healthz_after_up_s"] = round(stack.wait_http("/healthz"), 1)
    missing = httpx2.get(stack.base + "/no-such-page/", timeout=10)
    assert missing.status_code == 404 and "URLconf" not in missing.text  # DEBUG is off
    # No key in the compose file or the environment: the first start wrote one for this
    # install into the secrets volume, readable by its owner only.
    mode, size = stack.run(
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "stat -c %a /var/lib/nikki/secret_key; wc -c < /var/lib/nikki/secret_key",
    ).split()
    assert mode == "600" and int(size) > 50
    # And no public fallback: without a key or its file the image refuses to start.
    refused = stack.run(
        "run",
        "--rm",
        "--no-deps",
        "--entrypoint",
        "python",
        "-e",
        "DJANGO_SECRET_KEY_FILE=",
        "web",
        "manage.py",
        "check",
        check=False,
    )
    assert "Set DJANGO_SECRET_KEY" in refused


@pytest.mark.asyncio
async def test_sign_up_and_stream_an_entry_through_the_proxy(stack):
    cookie = user(stack, "ayumi")
    ws, _replica, started = await start(stack, cookie)
    async with ws:
        frames = await frames_until(ws, "done", timeout=90)
    done = frames[-1]
    seqs = [f["seq"] for f in frames if f["type"] == "delta"]
    assert done["status"] == "done" and len(seqs) > 10 and seqs == list(range(1, len(seqs) + 1))
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == done["text"]
    entry = started["entry"]
    stack.entries[entry] = cookie
    page = entry_page(stack.page(cookie, f"/entries/{entry}/").text)
    assert (page.status, page.text, page.retry_shown) == ("done", done["text"], False)
    assert "herons" in page.text


def test_a_dump_of_either_database_holds_none_of_the_diary(stack):
    """The entry streamed above, as a backup would see it: `pg_dump` of the diary database and
    of the key store find none of its words, and the keys live only in the key store."""
    assert stack.entries, "runs after the entry streamed through the proxy"
    diary = stack.run("exec", "-T", "db", "pg_dump", "-U", "nikki", "nikki")
    keys = stack.run("exec", "-T", "keys", "pg_dump", "-U", "nikki", "nikki_keys")
    assert "CREATE TABLE public.diaries_diaryentry" in diary
    words = ("herons", "budget", "curry", "novel")
    for dump in (diary, keys):
        assert not [word for word in words if word in dump]
    tables = {
        name: {line.split()[2] for line in dump.splitlines() if line.startswith("CREATE TABLE")}
        for name, dump in (("diary", diary), ("keys", keys))
    }
    assert "public.keystore_datakey" in tables["keys"]
    assert "public.keystore_datakey" not in tables["diary"]
    assert "public.diaries_diaryentry" not in tables["keys"]


def test_the_image_healthcheck_says_healthy(stack):
    [web] = stack.containers("web")
    assert stack.health(web) == "healthy"


@pytest.mark.asyncio
async def test_three_replicas_share_six_generations(stack):
    started = time.monotonic()
    stack.run("up", "--detach", "--no-recreate", "--scale", "web=3", timeout=900)
    replicas = stack.wait_healthy("web", 3)
    stack.timings["scale_to_3_healthy_s"] = round(time.monotonic() - started, 1)
    cookies = [user(stack, name) for name in ("ayumi", "ben", "chie") for _ in range(2)]
    # The proxy re-resolves `web` every 5 s: wait until its sockets reach every replica.
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while seen != set(replicas):
        assert time.monotonic() < deadline, f"the proxy reached only {len(seen)} replicas"
        ws, replica = await stack.socket(cookies[0])
        await ws.close()
        seen.add(replica)
    sockets = [await stack.socket(cookie) for cookie in cookies]  # two per person at once
    for ws, _replica in sockets:
        await ws.send(json.dumps(INPUTS))
    ends = await asyncio.gather(*(frames_until(ws, "done", timeout=120) for ws, _ in sockets))
    for ws, _replica in sockets:
        await ws.close()
    served = Counter()
    for (_ws, replica), frames, cookie in zip(sockets, ends, cookies, strict=True):
        started_frame = next(f for f in frames if f["type"] == "started")
        assert frames[-1]["status"] == "done"
        # The generation ran where its socket was accepted, as that replica's log says.
        assert stack.generation_replica(started_frame["generation"], "done") == replica
        served[replica] += 1
        stack.entries[started_frame["entry"]] = cookie
    stack.timings["generations_per_replica"] = sorted(served.values())
    assert set(served) == set(replicas) and min(served.values()) >= 1


@pytest.mark.asyncio
async def test_a_watch_through_another_replica_sees_no_gap(stack):
    cookie = user(stack, "ayumi")
    writer, writing_replica, started = await start(stack, cookie)
    await frames_until(writer, "delta")
    watcher, watching_replica = await socket_on(stack, cookie, avoid=writing_replica)
    await watcher.send(json.dumps({"action": "watch", "entry": started["entry"]}))
    watched = await frames_until(watcher, "done", timeout=90)
    written = await frames_until(writer, "done", timeout=90)
    await writer.close()
    await watcher.close()
    done = written[-1]
    assert watched[-1]["status"] == done["status"] == "done"
    snapshot = assert_no_gap(watched, done)
    assert snapshot["status"] == "generating" and snapshot["seq"] >= 1
    replica = stack.generation_replica(started["generation"], "done")
    assert replica == writing_replica != watching_replica
    stack.entries[started["entry"]] = cookie


@pytest.mark.asyncio
async def test_a_replica_stopped_mid_stream_keeps_the_text_and_retry_works_elsewhere(stack):
    cookie = user(stack, "ayumi")
    writer, doomed, started = await start(stack, cookie)
    entry = started["entry"]
    stack.entries[entry] = cookie
    for _ in range(5):
        await frames_until(writer, "delta")
    watcher, _replica = await socket_on(stack, cookie, avoid=doomed)
    await watcher.send(json.dumps({"action": "watch", "entry": entry}))
    await frames_until(watcher, "snapshot")
    stopping = time.monotonic()
    await asyncio.to_thread(stack.docker, "stop", "--time", GRACE, doomed)
    stack.timings["replica_stop_s"] = round(time.monotonic() - stopping, 1)
    done = (await frames_until(watcher, "done", timeout=30))[-1]
    await watcher.close()
    await writer.close()
    assert done["status"] == "interrupted" and done["text"]
    assert stack.generation_replica(started["generation"], "interrupted") == doomed
    # The page shows the text kept and offers Retry.
    page = entry_page(stack.page(cookie, f"/entries/{entry}/").text)
    assert (page.status, page.text, page.retry_shown) == ("interrupted", done["text"], True)
    # Retry, through a replica that still runs.
    retry, retry_replica, again = await start(
        stack, cookie, avoid=doomed, action="generate", entry=entry
    )
    async with retry:
        finished = (await frames_until(retry, "done", timeout=90))[-1]
    # A new attempt writes the entry afresh (the offline writer varies between attempts); the
    # interrupted attempt's text stays as a version of its own.
    assert finished["status"] == "done" and finished["text"] and finished["text"] != done["text"]
    assert stack.generation_replica(again["generation"], "done") == retry_replica
    page = entry_page(stack.page(cookie, f"/entries/{entry}/").text)
    assert (page.status, page.text, page.retry_shown) == ("done", finished["text"], False)
    stack.docker("start", doomed)
    stack.wait_healthy("web", 3)


@pytest.mark.asyncio
async def test_restarting_web_mid_stream_interrupts_every_running_entry_and_loses_none(stack):
    running = []
    for name in ("ayumi", "ben", "chie"):
        cookie = user(stack, name)
        ws, replica, started = await start(stack, cookie)
        running.append((ws, replica, started, cookie))
    for ws, *_ in running:
        for _ in range(3):
            await frames_until(ws, "delta")
    restarting = time.monotonic()
    await asyncio.to_thread(stack.run, "restart", "--timeout", GRACE, "web")
    stack.timings["restart_web_s"] = round(time.monotonic() - restarting, 1)
    for ws, *_ in running:
        await ws.close()
    stack.wait_healthy("web", 3)
    stack.wait_http("/healthz")
    for _ws, replica, started, cookie in running:
        entry = started["entry"]
        stack.entries[entry] = cookie
        assert stack.generation_replica(started["generation"], "interrupted") == replica
        page = entry_page(stack.page(cookie, f"/entries/{entry}/").text)
        assert page.status == "interrupted" and page.text and page.retry_shown


def test_the_logs_are_free_of_tracebacks(stack):
    logs = stack.run("logs", "--no-color")
    assert "Traceback" not in logs, logs[logs.index("Traceback") - 2000 :][:6000]


def test_down_then_up_keeps_every_entry(stack):
    before = {
        entry: entry_page(stack.page(cookie, f"/entries/{entry}/").text)
        for entry, cookie in stack.entries.items()
    }
    assert len(before) == 12  # 1 + 6 + 1 + 1 + 3
    started = time.monotonic()
    stack.run("down", "--timeout", GRACE)  # the volumes stay
    stack.timings["down_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    stack.run("up", "--detach", timeout=900)
    stack.wait_http("/healthz")
    stack.timings["up_again_healthz_s"] = round(time.monotonic() - started, 1)
    # The same sessions still sign these people in: the key in the secrets volume was kept.
    after = {
        entry: entry_page(stack.page(cookie, f"/entries/{entry}/").text)
        for entry, cookie in stack.entries.items()
    }
    assert after == before
    logs = stack.run("logs", "--no-color")
    assert "Traceback" not in logs, logs[logs.index("Traceback") - 2000 :][:6000]
