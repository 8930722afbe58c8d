"""One run of the pages bench, in its own process, on one checkout and one database.

Started by bench/pages_bench.py with the checkout as the working directory and DATABASE_URL
naming an empty database. It migrates, seeds one person's 15-year diary through the ORM (model
instances and bulk_create, so every field's own conversion to the database runs, an encrypted
field's included), then times each page in-process with Django's test Client: the time from
the request entering Django's handler to the full response (middleware, views, the database,
templates), which is the server's time without the network. It prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

from diary_text import DiaryWriter  # bench/, this script's own directory


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, required=True)
    parser.add_argument("--entries", type=int, default=5500)
    parser.add_argument("--years", type=int, default=15)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--export-runs", type=int, default=3)
    parser.add_argument("--search", action="append", default=[])
    return parser.parse_args()


def django_up(checkout: Path) -> None:
    sys.path.insert(0, str(checkout))
    os.chdir(checkout)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diary_project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    if "keys" in connections:  # a checkout with encryption at rest: its key store first
        call_command("migrate", "--noinput", "--database", "keys", verbosity=0)
    call_command("migrate", "--noinput", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)


def seed(*, entries: int, years: int) -> tuple[object, dict]:
    """One person and their diary; returns the user and what was made."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from diaries.models import DiaryEntry, EntryEdit, Generation

    started = time.perf_counter()
    today = timezone.localdate()
    diary = DiaryWriter().diary(entries=entries, years=years, today=today)
    made = time.perf_counter() - started
    user = get_user_model().objects.create_user("diarist", password=secrets.token_urlsafe(16))
    rows = []
    for item in diary:
        last = item.generations[-1].text
        rows.append(
            DiaryEntry(
                owner=user,
                date=item.date,
                morning=item.morning,
                afternoon=item.afternoon,
                evening=item.evening,
                notes=item.notes,
                tone=item.tone,
                language=item.language,
                text=item.edit if item.edit is not None else last,
                status="edited" if item.edit is not None else "done",
                writer="owner" if item.edit is not None else "offline",
                model_name="" if item.edit is not None else "nikki-offline-1",
            )
        )
    saved = DiaryEntry.objects.bulk_create(rows, batch_size=500)
    generations, edits = [], []
    for entry, item in zip(saved, diary, strict=True):
        noon = dt.datetime.combine(item.date, dt.time(12), tzinfo=dt.UTC)
        for index, version in enumerate(item.generations):
            at = noon + dt.timedelta(minutes=5 * index)
            generations.append(
                Generation(
                    entry=entry,
                    status="done",
                    text=version.text,
                    seq=len(version.text.split()),
                    writer=version.writer,
                    model_name="nikki-offline-1",
                    tone=item.tone,
                    language=item.language,
                    started_at=at,
                    heartbeat_at=at,
                    finished_at=at + dt.timedelta(seconds=20),
                    finish_reason="stop",
                    prompt_tokens=120,
                    completion_tokens=len(version.text) // 4,
                    total_tokens=120 + len(version.text) // 4,
                )
            )
        if item.edit is not None:
            edits.append(
                EntryEdit(entry=entry, text=item.edit, previous_text=item.generations[-1].text)
            )
    Generation.objects.bulk_create(generations, batch_size=500)
    EntryEdit.objects.bulk_create(edits, batch_size=500)
    return user, {
        "entries": len(saved),
        "generations": len(generations),
        "edits": len(edits),
        "japanese_entries": sum(item.language == "ja" for item in diary),
        "characters": sum(
            len(row.text)
            + len(row.morning)
            + len(row.afternoon)
            + len(row.evening)
            + len(row.notes)
            for row in rows
        )
        + sum(len(g.text) for g in generations)
        + sum(len(e.text) + len(e.previous_text) for e in edits),
        "text_made_s": round(made, 1),
        "seeded_s": round(time.perf_counter() - started - made, 1),
    }


def pages(user, *, searches: list[str]) -> dict[str, list[str]]:
    """The URLs of each page the bench times (a page with several URLs cycles through them)."""
    import random
    from urllib.parse import urlencode

    from diaries.models import DiaryEntry

    pick = random.Random(16)
    ids = list(DiaryEntry.objects.filter(owner=user).values_list("pk", flat=True))
    months = sorted(
        {(d.year, d.month) for d in DiaryEntry.objects.filter(owner=user).dates("date", "month")}
    )
    urls = {f"search “{query}”": [f"/search/?{urlencode({'q': query})}"] for query in searches}
    urls["home"] = ["/"]
    urls["home, page 100"] = ["/?page=100"]
    urls["entry"] = [f"/entries/{pk}/" for pk in pick.sample(ids, min(20, len(ids)))]
    urls["calendar month"] = [
        f"/calendar/{y}/{m}/" for y, m in pick.sample(months, min(12, len(months)))
    ]
    urls["export Markdown"] = ["/export/markdown/"]
    urls["export JSON"] = ["/export/json/"]
    return urls


def measure(user, urls: dict[str, list[str]], *, runs: int, export_runs: int) -> dict:
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)
    results = {}
    for name, addresses in urls.items():
        count = export_runs if name.startswith("export") else runs
        # Warm-up (up to two addresses); the first request's time is reported apart.
        first_started = time.perf_counter()
        client.get(addresses[0])
        first_ms = (time.perf_counter() - first_started) * 1000
        for address in addresses[1:2]:
            client.get(address)
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            response = client.get(addresses[0])
        assert response.status_code == 200, (addresses[0], response.status_code)
        times, cpu = [], []
        for run in range(count):
            address = addresses[run % len(addresses)]
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(address)
            body = streamed(response)  # an export streams: the time covers reading it all
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code == 200, (address, response.status_code)
        results[name] = {
            "runs": count,
            "first_ms": round(first_ms, 1),  # the first request of the page after seeding
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1),
            "cpu_p50_ms": round(statistics.median(cpu), 1),
            "queries": counter.count,
            "bytes": len(body),
            "matches": matches(body) if name.startswith("search") else None,
        }
        print(
            f"  {name}: p50 {results[name]['p50_ms']} ms, p95 {results[name]['p95_ms']} ms",
            file=sys.stderr,
        )
    return results


class QueryCounter:
    """Counts the SQL statements a request sends (connection.queries is reset per request)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def streamed(response) -> bytes:
    """The whole body, a streamed one (an asynchronous iterator, as the exports are) too: the
    bench's own, since the checkout it runs may not have it."""
    if not getattr(response, "streaming", False):
        return response.content
    from asgiref.sync import async_to_sync

    async def read() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(read)()


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def matches(body: bytes) -> int | None:
    """The number a search page says it found ("N entries match")."""
    import re

    found = re.search(rb"(\d[\d,]*) entr(?:y matches|ies match)", body)
    return int(found.group(1).replace(b",", b"")) if found else None


def main() -> None:
    args = parse()
    django_up(args.checkout.resolve())
    user, made = seed(entries=args.entries, years=args.years)
    print(f"  seeded: {made}", file=sys.stderr)
    from django.db import connection

    results = measure(
        user, pages(user, searches=args.search), runs=args.runs, export_runs=args.export_runs
    )
    print(json.dumps({"seed": made, "vendor": connection.vendor, "pages": results}))


if __name__ == "__main__":
    main()
