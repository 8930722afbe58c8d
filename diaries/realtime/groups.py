"""Channel-layer group names, and reaching open diary sockets from anywhere (views, admin,
signals), in any process.

Every socket joins the group of its user and of its session; closing them is a group message
the consumers act on. A socket watching an entry joins the entry's group, where its stream's
frames go.
"""

from __future__ import annotations

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from . import events


def entry_group(entry_id: int) -> str:
    """The group every viewer of an entry joins; its stream's frames go there."""
    return f"entry-{entry_id}"


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def session_group(session_key: str) -> str:
    # Group names allow 100 ASCII characters; never put the session key itself on the wire.
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def sockets_close_for_user(*, user_id: int, reason: str) -> None:
    """Close every open socket of a user (password change, deactivation)."""
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), events.close(reason=reason))


def sockets_close_for_session(*, session_key: str, reason: str) -> None:
    """Close the sockets opened with one session (logout)."""
    async_to_sync(get_channel_layer().group_send)(
        session_group(session_key), events.close(reason=reason)
    )
