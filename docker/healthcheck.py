"""The container's health probe: GET /healthz, exit 0 on 200 (no curl in python:*-slim).

Usage: python docker/healthcheck.py [URL]   (default http://127.0.0.1:8000/healthz)

The Host header is the first of DJANGO_ALLOWED_HOSTS, so the probe passes Django's host check
whatever name the site is served under.
"""

import os
import sys
import urllib.error
import urllib.request


def host_header() -> str:
    first = os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")[0].strip()
    if not first or first == "*":
        return "localhost"
    return first.lstrip(".")


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/healthz"
    request = urllib.request.Request(url, headers={"Host": host_header()})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            print(response.read(500).decode(errors="replace"))
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:  # 503 names what failed: show it in `docker inspect`
        print(f"{exc.code}: {exc.read(500).decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
