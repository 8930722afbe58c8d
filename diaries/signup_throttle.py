"""How many accounts one client address may make per hour (DIARY_SIGNUPS_PER_HOUR).

Each account has its own daily generation quota, so accounts made in bulk multiply it. The
count lives in django-axes' cache (the shared Redis cache when REDIS_URL is set, so every
server process counts together), keyed by the client address as django-axes sees it (behind
the proxy, daphne's --proxy-headers makes it the client's own).
"""

from __future__ import annotations

import logging

from axes.helpers import get_cache, get_client_ip_address
from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 3600


def _key(request: HttpRequest) -> str:
    return f"diary-signups:{get_client_ip_address(request) or 'unknown'}"


def signup_take(request: HttpRequest) -> bool:
    """Count a sign-up from this request's address; False when the address has made
    DIARY_SIGNUPS_PER_HOUR already in the hour since its first."""
    cache, key = get_cache(), _key(request)
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS)
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS)
        count = 1
    except Exception as exc:
        # The cache (Redis) is down: sign-up stays open, as the message rate limits do.
        logger.warning("sign-up throttle cache unavailable: %s", type(exc).__name__)
        return True
    return count <= settings.DIARY_SIGNUPS_PER_HOUR
