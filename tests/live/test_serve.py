"""`python -m diary_project.serve`: daphne's command line, on uvloop unless told otherwise.

The live tiers (tests/live/: test_daphne, test_pg_redis, test_browser) run every daphne through it;
these check which loop daphne ends up on, in a fresh interpreter each (a reactor is installed
once per process).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

# What daphne's server module leaves installed, after the launcher's step.
PROBE = """
import warnings
warnings.simplefilter("error")  # daphne warns when it has to replace a reactor
from diary_project.serve import install_reactor
install_reactor({kind!r})
import daphne.server
from twisted.internet import reactor
print(type(reactor).__name__, type(reactor._asyncioEventloop).__module__)
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("kind", "loop_module"), [("uvloop", "uvloop"), ("asyncio", "asyncio.unix_events")]
)
def test_daphne_runs_on_the_chosen_loop(kind, loop_module):
    done = run(PROBE.format(kind=kind))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["AsyncioSelectorReactor", loop_module]


def test_an_unknown_loop_is_refused_with_a_clear_message():
    done = subprocess.run(
        [sys.executable, "-m", "diary_project.serve", "--help"],
        cwd=ROOT,
        env={**os.environ, "DIARY_EVENT_LOOP": "tokio"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "DIARY_EVENT_LOOP must be one of uvloop, asyncio, not 'tokio'" in done.stderr


def test_daphne_options_pass_through():
    done = subprocess.run(
        [sys.executable, "-m", "diary_project.serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--proxy-headers" in done.stdout and "application" in done.stdout


def test_the_startup_heap_is_frozen_with_the_urlconf_loaded():
    done = run(
        "import gc, sys, django; django.setup()\n"
        "from diary_project.serve import freeze_startup_heap\n"
        "freeze_startup_heap()\n"
        "print(gc.get_freeze_count(), 'diary_project.urls' in sys.modules)\n",
        DJANGO_SETTINGS_MODULE="diary_project.settings",
        DJANGO_DEBUG="true",
    )
    assert done.returncode == 0, done.stderr
    frozen, urls_loaded = done.stdout.split()
    assert int(frozen) > 50_000 and urls_loaded == "True"


def test_daphne_freezes_the_heap_when_it_starts_serving(tmp_path):
    """A real `python -m diary_project.serve`: the hook runs once the reactor runs."""
    probe = tmp_path / "probe_asgi.py"
    probe.write_text(
        "import gc\n"
        "from twisted.internet import reactor\n"
        "from diary_project.asgi import application\n"
        "def report():\n"
        f"    open({str(tmp_path / 'frozen')!r}, 'w').write(str(gc.get_freeze_count()))\n"
        "    reactor.stop()\n"
        "reactor.callWhenRunning(reactor.callLater, 0.5, report)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "diary_project.serve", "-p", "0", "probe_asgi:application"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (tmp_path / "frozen").exists(), done.stderr[-2000:]
    assert int((tmp_path / "frozen").read_text()) > 50_000


def test_the_server_it_starts_listens_through_the_slow_client_guard(settings):
    """Only this server: each endpoint daphne builds from its options gets the guard around
    it (diaries/backpressure.py), and none when DIARY_WS_MAX_BUFFER_BYTES is 0."""
    import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor first)

    from diary_project.serve import guarded_server

    endpoints = ["tcp:port=8000:interface=127.0.0.1", "unix:/run/nikki.sock"]
    settings.DIARY_WS_MAX_BUFFER_BYTES = 4096
    assert guarded_server(application=None, endpoints=endpoints).endpoints == [
        "nikki-guard:max_buffer=4096:tcp:port=8000:interface=127.0.0.1",
        "nikki-guard:max_buffer=4096:unix:/run/nikki.sock",
    ]
    settings.DIARY_WS_MAX_BUFFER_BYTES = 0
    assert guarded_server(application=None, endpoints=endpoints).endpoints == endpoints
