#!/usr/bin/env bash
# Builds stand-ins for the base images that the Dockerfile and docker-compose.yml name, from
# Debian's packages, for a machine whose Docker engine reaches no image registry (only Debian's
# package archive and the Python package index). On a machine with a registry, do not run this:
# `docker compose up` pulls the real images.
#
#   docker/local-images/build.sh        (as root: debootstrap needs it; idempotent)
#
# Each stand-in is built only if no image of that name and tag exists yet, so a machine that
# keeps its Docker data builds them once. A Debian root file system per suite comes from
# `debootstrap --variant=minbase` and `docker import`; a small Dockerfile per image (in the
# folder of the same name beside this script) installs the packages and keeps the official
# image's contract that the compose file relies on (see each Dockerfile).
#
# Environment: DEBIAN_MIRROR (default: the first Debian archive apt uses here, else
# http://deb.debian.org/debian); HOST_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt,
# copied into the Python stand-in at build time so that pip reaches the package index the way
# this host does; it is never written into the repository).
set -o errexit -o nounset -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
ca_bundle=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# image:tag          folder   Debian suite: where its packages come from
images=(
    "python:3.13-slim   python   trixie"    # Python 3.13
    "postgres:17        postgres trixie"    # postgresql-17
    "redis:7            redis    bookworm"  # redis-server 7.0 (trixie has 8)
    "nginx:1.28-alpine  nginx    sid"       # nginx >= 1.27.3 for `server … resolve` (trixie: 1.26)
)

log() { printf '== local-images: %s\n' "$*"; }
die() { printf 'local-images: %s\n' "$*" >&2; exit 1; }

debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local found
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -v '^\s*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true)
    echo "${found:-http://deb.debian.org/debian}"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The names built here must be the ones the repository uses: a renamed base image fails here,
# not later in a `pull` that cannot work.
check_names() {
    local name
    for entry in "${images[@]}"; do
        read -r name _ <<<"$entry"
        grep -qE "^FROM $name\$|^ *image: $name\$" "$repo/Dockerfile" "$repo/docker-compose.yml" \
            || die "$name is named neither in Dockerfile nor in docker-compose.yml: update build.sh"
    done
}

# A Debian root file system imported as nikki-local/debian:SUITE, made once.
base_image() {
    local suite=$1 tag="nikki-local/debian:$1"
    if image_exists "$tag"; then
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    [[ $(id -u) == 0 ]] || die "debootstrap needs root"
    local root started=$SECONDS mirror
    mirror=$(debian_mirror)
    root=$(mktemp -d /var/tmp/nikki-debootstrap.XXXXXX)
    trap 'rm -rf "$root"; trap - RETURN' RETURN
    log "debootstrap $suite from $mirror"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
        || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap $suite failed"; }
    rm -f "$root.log"
    chmod 0755 "$root"  # mktemp made it 0700: the image's / must be readable by every user
    # As Debian's own container images: no services started by package scripts, no
    # recommended packages, no package lists or archives kept.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/90nikki-local"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
    log "$tag imported in $((SECONDS - started))s"
}

build_image() {
    local name=$1 folder=$2 suite=$3 context started=$SECONDS
    context=$(mktemp -d /var/tmp/nikki-image.XXXXXX)
    trap 'rm -rf "$context"; trap - RETURN' RETURN
    cp -r "$here/$folder/." "$context/"
    if [[ $folder == python ]]; then
        [[ -s $ca_bundle ]] || die "no CA bundle at $ca_bundle (HOST_CA_BUNDLE)"
        cp "$ca_bundle" "$context/host-ca-certificates.crt"
    fi
    log "building $name on nikki-local/debian:$suite"
    docker build --quiet --network host --build-arg "BASE=nikki-local/debian:$suite" \
        --label org.nikki.stand-in=true --tag "$name" "$context" >/dev/null
    log "$name built in $((SECONDS - started))s"
}

# One suite's stand-ins: its root file system (if one of them is missing), then each image.
build_suite() {
    local suite=$1 name folder image_suite
    for entry in "${images[@]}"; do
        read -r name folder image_suite <<<"$entry"
        if [[ $image_suite != "$suite" ]]; then
            continue
        fi
        if image_exists "$name"; then
            log "$name exists: kept"
            continue
        fi
        base_image "$suite"
        build_image "$name" "$folder" "$suite"
    done
}

command -v docker >/dev/null || die "docker is missing"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first)"
check_names
# The suites side by side: most of the time goes to downloads and to the engine's copies.
pids=()
for suite in $(for entry in "${images[@]}"; do read -r _ _ s <<<"$entry"; echo "$s"; done | sort -u); do
    build_suite "$suite" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
(( failed == 0 )) || die "a stand-in failed to build (see above)"
log "done in ${SECONDS}s"
