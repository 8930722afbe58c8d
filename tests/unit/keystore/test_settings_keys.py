"""diary_project/settings.py and the server's encryption keys: production refuses to start
without them, a file may hold them, and `make run` (DEBUG) makes one on first use without ever
printing it. Each reads the settings in a fresh interpreter, as a start does."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.support.paths import ROOT

PRINT_KEYS = "from django.conf import settings; print(','.join(settings.NIKKI_ENCRYPTION_KEYS))"


def shell(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DIARY_", "NIKKI_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SECRET_KEY": "k3y-" + "Zq9xP2mL7vR4tY8w" * 4, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_server_key():
    result = shell(PRINT_KEYS)
    assert result.returncode != 0
    assert "Set NIKKI_ENCRYPTION_KEYS" in result.stderr


def test_a_malformed_server_key_is_refused():
    result = shell(PRINT_KEYS, NIKKI_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0 and "key 1 is not a Fernet key" in result.stderr


def test_the_keys_may_come_from_a_file_newest_first(tmp_path):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    path = tmp_path / "keys"
    path.write_text(f"{first}\n{second}\n")

    result = shell(PRINT_KEYS, NIKKI_ENCRYPTION_KEYS_FILE=str(path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{first},{second}"


def test_development_makes_a_key_once_says_so_and_never_prints_it(tmp_path):
    path = tmp_path / "var" / "nikki-encryption-keys"

    first = shell(PRINT_KEYS, DJANGO_DEBUG="true", NIKKI_ENCRYPTION_KEYS_FILE=str(path))
    second = shell(PRINT_KEYS, DJANGO_DEBUG="true", NIKKI_ENCRYPTION_KEYS_FILE=str(path))

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    key = path.read_text().strip()
    Fernet(key)  # a real key
    assert first.stdout.strip() == second.stdout.strip() == key
    assert "made a development encryption key" in first.stderr and key not in first.stderr
    assert "made a development" not in second.stderr
    assert oct(path.stat().st_mode & 0o777) == "0o600"
