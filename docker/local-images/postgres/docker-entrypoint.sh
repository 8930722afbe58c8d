#!/bin/bash
# As the official postgres image's entrypoint, for what the compose file uses: on the first
# start (no PG_VERSION in PGDATA) initdb with POSTGRES_USER and POSTGRES_PASSWORD, password
# authentication from every address, POSTGRES_DB created by a temporary server that listens on
# the socket only; then the real server, as the postgres user.
set -o errexit -o nounset -o pipefail

if [[ ${1:-} == -* ]]; then
    set -- postgres "$@"
fi
if [[ ${1:-} != postgres ]]; then
    exec "$@"
fi

if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
        echo "postgres: POSTGRES_PASSWORD is not set: the database would have no password" >&2
        exit 1
    fi
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [[ $database != postgres ]]; then
        psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
            --set db="$database" <<<'CREATE DATABASE :"db";'
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "postgres: initialised $PGDATA for $user, database $database"
fi

exec "$@"
