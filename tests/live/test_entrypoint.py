"""docker/entrypoint.sh run for real (SQLite): a per-install secret key made once, never a public
default; `check --deploy` printed when DEBUG is off."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

MANAGE_SHELL = ("python", "manage.py", "shell", "--no-imports", "-c")
PRINT_KEY = "from django.conf import settings; print('KEY=' + settings.SECRET_KEY)"


def entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPENAI_"))}
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    return subprocess.run(
        ["bash", "docker/entrypoint.sh", *MANAGE_SHELL, PRINT_KEY],
        cwd=ROOT,
        env={
            **base,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "KEYS_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.sqlite3'}",
            "DJANGO_MIGRATE": "false",
            "DJANGO_DATABASE_WAIT_SECONDS": "5",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def key_printed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return next(line[4:] for line in result.stdout.splitlines() if line.startswith("KEY="))


def test_the_first_start_makes_a_private_key_and_later_starts_keep_it(tmp_path):
    key_file = tmp_path / "secrets" / "secret_key"

    first = key_printed(entrypoint(tmp_path, DJANGO_SECRET_KEY_FILE=str(key_file)))
    second = key_printed(entrypoint(tmp_path, DJANGO_SECRET_KEY_FILE=str(key_file)))

    assert first == second == key_file.read_text().strip()
    assert len(first) >= 50 and "insecure" not in first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_key_from_the_environment_wins_and_no_file_is_written(tmp_path):
    key_file = tmp_path / "secret_key"
    key = "k" * 60

    printed = key_printed(
        entrypoint(tmp_path, DJANGO_SECRET_KEY=key, DJANGO_SECRET_KEY_FILE=str(key_file))
    )

    assert printed == key
    assert not key_file.exists()


def test_with_no_key_and_no_key_file_it_refuses_to_start_and_says_why(tmp_path):
    result = entrypoint(tmp_path)

    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr
    assert "KEY=" not in result.stdout


@pytest.mark.parametrize(("debug", "checked"), [("false", True), ("true", False)])
def test_check_deploy_is_printed_when_debug_is_off(tmp_path, debug, checked):
    result = entrypoint(
        tmp_path,
        DJANGO_DEBUG=debug,
        DJANGO_SECRET_KEY_FILE=str(tmp_path / "secret_key"),
        EMAIL_URL="filemail:///tmp/nikki-mail",
    )

    key_printed(result)  # the command still runs: the findings are printed, not fatal
    assert ("entrypoint: check --deploy:" in result.stderr) is checked
    # The mail kept in files (compose's default) is one of the findings a real site must fix.
    assert ("mail.E001" in result.stderr) is checked
