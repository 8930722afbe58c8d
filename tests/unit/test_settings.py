"""diary_project/settings.py: production variables pass `check --deploy` and make cookies and
transport secure, unsafe values are refused, and so is a moderation choice it cannot honour. Each
reads the settings in a fresh interpreter, as a deployment starts."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.paths import ROOT

PRODUCTION = {
    "DJANGO_SECRET_KEY": "k3y-" + "Zq9xP2mL7vR4tY8w" * 4,
    "DJANGO_SECURE": "true",
    "DJANGO_SECURE_PROXY_HEADER": "true",
    "DJANGO_ALLOWED_HOSTS": "diary.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://diary.example.com",
    "EMAIL_URL": "smtp+tls://nikki:mail-password@smtp.example.com:587",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DIARY_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- deployment settings ---------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_a_wildcard_allowed_host():
    result = manage("check", env={**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "*"})
    assert result.returncode != 0 and "not '*'" in result.stderr


def test_production_refuses_a_missing_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_cookies_and_transport_are_secure():
    code = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE)"
    )
    result = manage("shell", "-v", "0", "-c", code, env=PRODUCTION)
    assert result.stdout.split() == [
        "True",
        "True",
        "True",
        "31536000",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "True",
        "Lax",
    ]


def _settings_import(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DIARY_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-c", "import diary_project.settings"],
        cwd=ROOT,
        env={**clean, "DJANGO_DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_an_unknown_checker_or_openai_without_a_key():
    assert "DIARY_MODERATION must be" in _settings_import(DIARY_MODERATION="maybe").stderr
    assert "needs OPENAI_API_KEY" in _settings_import(DIARY_MODERATION="openai").stderr
    assert _settings_import(DIARY_MODERATION="wordlist").returncode == 0
