#!/usr/bin/env bash
# The container's entrypoint: make this install's secret key and encryption key if there are
# none, wait for the databases (the diaries' and the key store), apply migrations to both and
# create the admin (unless DJANGO_MIGRATE=false), print what `check --deploy` finds when DEBUG
# is off, then run the command (daphne by default).
#
# docker-compose.yml runs the migrations once, in its one-off `migrate` service; the `web`
# replicas set DJANGO_MIGRATE=false and start after it has finished, so that several replicas
# never migrate at the same time.
set -o errexit -o nounset -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

manage() {
    python manage.py "$@"
}

write_once() {
    # write_once FILE WHAT COMMAND…: the first start writes COMMAND's output to FILE (mode
    # 0600); every later start and every replica reads the same one. A hard link never
    # replaces a file: if another container won the race, its content stays.
    local file=$1 what=$2
    shift 2
    mkdir -p "$(dirname "$file")"
    local made
    made=$(mktemp "$file.XXXXXX")
    "$@" > "$made"
    if ln "$made" "$file" 2>/dev/null; then
        echo "entrypoint: wrote a new $what to $file (back it up)"
    fi
    rm -f "$made"
}

ensure_secret_key() {
    # docker-compose.yml names a file, never a key.
    local file=${DJANGO_SECRET_KEY_FILE:-}
    if [[ -n ${DJANGO_SECRET_KEY:-} || -z $file || -s $file ]]; then
        return 0
    fi
    write_once "$file" "secret key" python -c 'import secrets; print(secrets.token_urlsafe(50))'
}

ensure_encryption_keys() {
    # The server keys that wrap every user's data key (keystore/): lose them and every diary
    # is lost, so the log says where they are. Back them up apart from the databases.
    local file=${NIKKI_ENCRYPTION_KEYS_FILE:-}
    if [[ -n ${NIKKI_ENCRYPTION_KEYS:-} || -z $file || -s $file ]]; then
        return 0
    fi
    write_once "$file" "encryption key" python -c \
        'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'
}

deploy_check() {
    case ${DJANGO_DEBUG:-false} in
        true | True | TRUE | 1 | yes | on) return 0 ;;
    esac
    # Printed, not fatal: a try-out on a laptop (no TLS, mail kept in files) is a fair use.
    manage check --deploy --fail-level CRITICAL 2>&1 | sed 's/^/entrypoint: check --deploy: /' >&2
}

wait_for_database() {
    local seconds=${DJANGO_DATABASE_WAIT_SECONDS:-60}
    local started=$SECONDS
    # `check --database` does not connect on PostgreSQL: open a real connection instead.
    local connect="from django.db import connections
for alias in connections:
    connections[alias].ensure_connection()"
    until manage shell --no-imports -c "$connect" 2>/dev/null; do
        if (( SECONDS - started >= seconds )); then
            echo "entrypoint: the databases did not answer within ${seconds}s:" >&2
            manage shell --no-imports -c "$connect" 2>&1 | tail -n 2 >&2 || true
            exit 1
        fi
        echo "entrypoint: waiting for the databases…" >&2
        sleep 1
    done
}

ensure_superuser() {
    if [[ -z ${DJANGO_SUPERUSER_USERNAME:-} ]]; then
        return 0
    fi
    if [[ -z ${DJANGO_SUPERUSER_PASSWORD:-} ]]; then
        echo "entrypoint: DJANGO_SUPERUSER_USERNAME is set but DJANGO_SUPERUSER_PASSWORD is not" >&2
        exit 1
    fi
    # createsuperuser --noinput fails when the user exists: look first. An existing admin is
    # left as it is (its password may have been changed since).
    if manage shell --no-imports -c "
import os, sys
from django.contrib.auth import get_user_model
User = get_user_model()
name = os.environ['DJANGO_SUPERUSER_USERNAME']
sys.exit(0 if User._default_manager.filter(**{User.USERNAME_FIELD: name}).exists() else 1)
"; then
        echo "entrypoint: the admin ${DJANGO_SUPERUSER_USERNAME} exists already"
    else
        DJANGO_SUPERUSER_EMAIL=${DJANGO_SUPERUSER_EMAIL:-} manage createsuperuser --noinput
    fi
}

ensure_secret_key
ensure_encryption_keys
wait_for_database
case ${DJANGO_MIGRATE:-true} in
    false | False | FALSE | 0 | no | off)
        echo "entrypoint: DJANGO_MIGRATE=${DJANGO_MIGRATE}: no migrations here" ;;
    *)
        # The key store first: the diary's migrations encrypt existing text with it.
        manage migrate --noinput --database keys
        manage migrate --noinput
        ensure_superuser ;;
esac
deploy_check

exec "$@"
