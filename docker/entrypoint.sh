#!/usr/bin/env bash
# The container's entrypoint: wait for the database, apply migrations and create the admin
# (unless DJANGO_MIGRATE=false), then run the command (daphne by default).
#
# docker-compose.yml runs the migrations once, in its one-off `migrate` service; the `web`
# replicas set DJANGO_MIGRATE=false and start after it has finished, so that several replicas
# never migrate at the same time.
set -o errexit -o nounset -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

manage() {
    python manage.py "$@"
}

wait_for_database() {
    local seconds=${DJANGO_DATABASE_WAIT_SECONDS:-60}
    local started=$SECONDS
    # `check --database` does not connect on PostgreSQL: open a real connection instead.
    until manage shell --no-imports -c \
        "from django.db import connection; connection.ensure_connection()" 2>/dev/null; do
        if (( SECONDS - started >= seconds )); then
            echo "entrypoint: the database did not answer within ${seconds}s:" >&2
            manage shell --no-imports -c \
                "from django.db import connection; connection.ensure_connection()" 2>&1 \
                | tail -n 2 >&2 || true
            exit 1
        fi
        echo "entrypoint: waiting for the database…" >&2
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

wait_for_database
case ${DJANGO_MIGRATE:-true} in
    false | False | FALSE | 0 | no | off)
        echo "entrypoint: DJANGO_MIGRATE=${DJANGO_MIGRATE}: no migrations here" ;;
    *)
        manage migrate --noinput
        ensure_superuser ;;
esac

exec "$@"
