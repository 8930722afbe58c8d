"""The deployment files hold together: docker-compose.yml, Dockerfile, docker/, .env.example.

There is no Docker engine in CI, so these tests read the files; `docker-compose config -q`
(Debian's compose, the 1.29 line) validates the compose file against its schema.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.paths import ROOT

# Read by settings.py but not meant for a container: a build-time path and the tests' SQLite.
NOT_FOR_CONTAINERS = {"DJANGO_STATIC_ROOT", "DJANGO_TEST_SQLITE"}
# Set by docker-compose.yml itself, pointing at its own services.
SET_BY_COMPOSE = {"DATABASE_URL", "REDIS_URL"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def settings_variables() -> set[str]:
    """Every environment variable diary_project/settings.py reads through django-environ."""
    source = (ROOT / "diary_project" / "settings.py").read_text()
    names = set(re.findall(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", source))
    assert len(names) > 20, names  # the pattern still matches how settings.py reads them
    return names


def entrypoint_variables() -> set[str]:
    source = (ROOT / "docker" / "entrypoint.sh").read_text()
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", source)) - {"BASH_SOURCE"}


def test_compose_has_the_database_redis_web_and_proxy_services(services):
    assert {"db", "redis", "migrate", "web", "proxy"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert int(services["db"]["image"].split(":")[1]) >= 15  # Django 6.1 needs PostgreSQL 15+
    assert services["redis"]["image"].startswith("redis:")


def test_database_and_redis_have_healthchecks(services):
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_database_keeps_its_data_in_a_named_volume(compose, services):
    volume, _, target = services["db"]["volumes"][0].partition(":")
    assert volume in compose["volumes"]
    assert target.startswith("/var/lib/postgresql/data")


def test_web_waits_for_healthy_services_and_for_the_migrations(services):
    depends = services["web"]["depends_on"]
    assert depends["db"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_migrations_run_once_in_the_migrate_service_not_in_each_replica(services):
    assert services["migrate"]["environment"]["DJANGO_MIGRATE"] == "true"
    assert services["migrate"].get("restart") == "no"
    assert services["web"]["environment"]["DJANGO_MIGRATE"] == "false"
    # The admin's password reaches the one-off service only.
    assert "DJANGO_SUPERUSER_PASSWORD" in services["migrate"]["environment"]
    assert "DJANGO_SUPERUSER_PASSWORD" not in services["web"]["environment"]


def test_web_publishes_no_host_port_so_it_can_scale(services):
    web = services["web"]
    assert "ports" not in web, "a fixed host port stops `--scale web=3`"
    assert "container_name" not in web
    assert [str(port) for port in web["expose"]] == ["8000"]


def test_web_uses_the_compose_postgres_and_redis(services):
    env = services["web"]["environment"]
    assert env["DATABASE_URL"] == "postgres://nikki:nikki@db:5432/nikki"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    db_env = services["db"]["environment"]
    assert (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"], db_env["POSTGRES_DB"]) == (
        "nikki",
        "nikki",
        "nikki",
    )


def test_web_works_with_no_key_and_passes_every_setting_on(services):
    env = services["web"]["environment"]
    # `docker compose up` works as it is with no public key: DJANGO_SECRET_KEY passes through
    # only when set, else each install makes its own (the entrypoint, into the secrets volume)...
    assert env["DJANGO_SECRET_KEY"] is None
    assert env["DJANGO_SECRET_KEY_FILE"] == "/var/lib/nikki/secret_key"
    # ...and no OpenAI variable is required (unset → the offline writer).
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        assert env[name] is None, f"{name} must pass through unset, not as an empty string"
    missing = settings_variables() - NOT_FOR_CONTAINERS - set(env)
    assert not missing, f"add to x-app's environment in docker-compose.yml: {sorted(missing)}"
    assert set(env) - SET_BY_COMPOSE - {"DJANGO_MIGRATE"} <= settings_variables()


def test_env_example_names_every_variable(services):
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    wanted = settings_variables() | entrypoint_variables() | {"DJANGO_SUPERUSER_PASSWORD"}
    missing = wanted - named
    assert not missing, f"add to .env.example: {sorted(missing)}"
    # Uncommented lines would override defaults as soon as someone copies the file.
    assert not re.findall(r"^[A-Z][A-Z0-9_]*=", text, flags=re.MULTILINE)


def test_proxy_publishes_port_8000_and_passes_websocket_upgrades(services):
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    # Only this machine reaches it unless NIKKI_BIND says otherwise.
    assert proxy["ports"] == ["${NIKKI_BIND:-127.0.0.1}:${NIKKI_PORT:-8000}:8000"]
    mount = "./docker/nginx.conf:/etc/nginx/conf.d/default.conf:ro"
    assert mount in proxy["volumes"]
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    directives = [line.split("#")[0].strip() for line in conf.splitlines()]
    assert "proxy_http_version 1.1;" in directives
    assert "proxy_set_header Upgrade $http_upgrade;" in directives
    assert "proxy_set_header Connection $connection_upgrade;" in directives
    assert "proxy_set_header Host $http_host;" in directives
    assert "listen 8000;" in directives
    # Every replica, re-resolved through Docker's DNS (nginx >= 1.27.3 for `resolve`).
    assert "server web:8000 resolve;" in directives
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in directives
    major, minor = (int(part) for part in proxy["image"].split(":")[1].split("-")[0].split("."))
    assert (major, minor) >= (1, 28)


def test_the_llm_profile_runs_a_local_openai_compatible_server(services):
    ollama = services["ollama"]
    assert ollama["profiles"] == ["llm"]
    assert ollama["image"].startswith("ollama/ollama")
    assert services["ollama-pull"]["profiles"] == ["llm"]
    assert services["ollama-pull"]["environment"]["OLLAMA_HOST"] == "ollama:11434"
    # Nothing outside the profile needs it.
    for name, service in services.items():
        if "llm" not in service.get("profiles", []):
            assert "ollama" not in service.get("depends_on", {}), name


def test_dockerfile_builds_a_non_root_image_that_migrates_at_start_not_at_build():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = re.findall(r"^([A-Z]+)\s+(.*)$", text, flags=re.MULTILINE)
    by_name: dict[str, list[str]] = {}
    for name, argument in instructions:
        by_name.setdefault(name, []).append(argument)
    assert by_name["FROM"] == ["python:3.13-slim"]
    assert by_name["USER"] and by_name["USER"][-1] not in ("root", "0")
    assert by_name["EXPOSE"] == ["8000"]
    assert by_name["ENTRYPOINT"] == ['["/app/docker/entrypoint.sh"]']
    assert by_name["CMD"][-1].startswith(
        '["python", "-m", "diary_project.serve", "-b", "0.0.0.0", "-p", "8000"'
    )
    assert "docker/healthcheck.py" in by_name["HEALTHCHECK"][0]
    assert "pip install --no-deps ." in text and "collectstatic --noinput" in text
    assert not re.search(r"manage\.py\s+migrate", text), "migrate at start, never at build"


def test_entrypoint_is_strict_and_ends_by_running_the_command():
    script = ROOT / "docker" / "entrypoint.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -o errexit -o nounset -o pipefail" in text
    assert text.rstrip().endswith('exec "$@"')
    assert "migrate --noinput" in text
    assert os.access(script, os.X_OK)


def test_no_secret_is_written_into_the_compose_file_or_the_image():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "django-insecure" not in text
    assert not re.search(r"DJANGO_SECRET_KEY:\s*\$\{DJANGO_SECRET_KEY:-", text)
    assert "DJANGO_SECRET_KEY" not in (ROOT / "Dockerfile").read_text().replace(
        "DJANGO_SECRET_KEY=collectstatic-only-not-a-secret", ""
    )


def test_the_secret_and_the_reset_mail_live_in_a_volume_not_in_the_log(compose, services):
    for name in ("migrate", "web"):
        assert "secrets:/var/lib/nikki" in services[name]["volumes"], name
    assert "secrets" in compose["volumes"]
    # The console mail back end would print live reset links into the container log.
    email_url = services["web"]["environment"]["EMAIL_URL"]
    assert email_url == "${EMAIL_URL:-filemail:///var/lib/nikki/mail}"


def rendered(*, env: dict[str, str]) -> dict:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not on PATH; .ci/run installs it (apt docker-compose)")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPENAI_"))}
    base.pop("NIKKI_BIND", None)
    result = subprocess.run(
        [exe, "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return yaml.safe_load(result.stdout)


def test_the_proxy_listens_on_loopback_unless_nikki_bind_says_otherwise():
    def published(config: dict) -> list[str]:
        # Compose 1.29 renders "ip:published:target/tcp"; Compose v2 a mapping.
        return [
            p.removesuffix("/tcp")
            if isinstance(p, str)
            else f"{p.get('host_ip', '')}:{p['published']}:{p['target']}"
            for p in config["services"]["proxy"]["ports"]
        ]

    assert published(rendered(env={})) == ["127.0.0.1:8000:8000"]
    everywhere = "0.0.0.0"  # noqa: S104
    assert published(rendered(env={"NIKKI_BIND": everywhere})) == [f"{everywhere}:8000:8000"]
    # NIKKI_PORT moves the host's port only (the compose tier takes a free one).
    assert published(rendered(env={"NIKKI_PORT": "18000"})) == ["127.0.0.1:18000:8000"]


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "var", "staticfiles"} <= set(ignored)


def test_docker_compose_validates_the_file():
    """Debian's docker-compose (1.29) checks the file against its schema, without an engine."""
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not on PATH; .ci/run installs it (apt docker-compose)")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPENAI_"))}
    for profile_args in ([], ["--profile", "llm"]):
        result = subprocess.run(
            [exe, "-f", "docker-compose.yml", *profile_args, "config", "-q"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
