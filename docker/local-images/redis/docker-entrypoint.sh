#!/bin/bash
# As the official redis image's entrypoint: options alone are redis-server's; redis-server
# runs as the redis user with protected mode off unless the command line sets it.
set -o errexit -o nounset -o pipefail

if [[ ${1:-} == -* || ${1:-} == *.conf ]]; then
    set -- redis-server "$@"
fi
if [[ ${1:-} == redis-server ]]; then
    if [[ " $* " != *" --protected-mode "* ]]; then
        set -- "$@" --protected-mode no
    fi
    if [[ $(id -u) == 0 ]]; then
        chown -R redis:redis /data 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
