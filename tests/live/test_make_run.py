"""`make run` on a fresh machine says what it installs and where to open Nikki, and little else:
no pip warnings, no list of migrations, no echo of make's own commands."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.support.paths import ROOT

TINY_PROJECT = """\
[project]
name = "nikki-make-probe"
version = "0"
[project.optional-dependencies]
dev = []
[tool.setuptools]
py-modules = []
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_installing_prints_what_it_installs_and_no_pip_warnings(tmp_path):
    # The Makefile's own steps, on a project with nothing to install, in a new virtual
    # environment; a pip configuration naming a location that is not there (as on the machine
    # this was seen on) makes pip warn about it for every package it looks up.
    (tmp_path / "pyproject.toml").write_text(TINY_PROJECT)
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "find-python", tmp_path / "bin" / "find-python")
    env = {**os.environ, "PIP_FIND_LINKS": str(tmp_path / "no-such-wheels")}
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(ROOT / "Makefile"),
            "install",
            f"PYTHON={sys.executable}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert lines == [
        f"== making a virtual environment in .venv with {sys.executable}",
        "== installing Nikki and its dependencies (pyproject.toml) into .venv",
    ]
    assert (tmp_path / ".venv" / ".installed").exists()


def test_make_run_says_where_to_open_nikki_and_not_every_migration(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'nikki.sqlite3'}",
        "KEYS_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.sqlite3'}",
        "NIKKI_ENCRYPTION_KEYS_FILE": str(tmp_path / "keys"),
    }
    env.pop("DJANGO_DEBUG", None)
    # -o: the installed virtual environment is taken as it is (nothing is installed here).
    server = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "make run did not serve in time"
                time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]

    assert f"== Nikki is starting: open http://127.0.0.1:{port}/ (Ctrl-C stops it)" in output
    assert "== bringing the databases up to date (migrations)" in output
    assert "Applying" not in output and "Operations to perform" not in output
    assert "manage.py" not in output and "DJANGO_DEBUG=" not in output  # make's own echo
    assert len([line for line in output.splitlines() if line.strip()]) <= 12, output
