"""Reaching open diary sockets from anywhere (views, admin, signals), in any process.

Every socket joins the group of its user and of its session; closing them is a group message
the consumers act on.
"""

from __future__ import annotations

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

CLOSE_EVENT = "diary.close"


def entry_group(entry_id: int) -> str:
    """The group every viewer of an entry joins; its stream's frames go there."""
    return f"entry-{entry_id}"


async def entry_join(layer, entry_id: int, channel_name: str, handler) -> None:
    """Join an entry's group. The in-memory layer (one process) takes the socket's handler, so
    the stream's sender calls it directly, with no queue and no task switch per frame
    (diaries/layers.py); a layer between processes takes the channel, as Channels does."""
    group = entry_group(entry_id)
    if hasattr(layer, "direct_add"):
        layer.direct_add(group, channel_name, handler)
    else:
        await layer.group_add(group, channel_name)


async def entry_leave(layer, entry_id: int, channel_name: str) -> None:
    group = entry_group(entry_id)
    if hasattr(layer, "direct_discard"):
        layer.direct_discard(group, channel_name)
    else:
        await layer.group_discard(group, channel_name)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def session_group(session_key: str) -> str:
    # Group names allow 100 ASCII characters; never put the session key itself on the wire.
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def sockets_close_for_user(*, user_id: int, reason: str) -> None:
    """Close every open socket of a user (password change, deactivation)."""
    async_to_sync(get_channel_layer().group_send)(
        user_group(user_id), {"type": CLOSE_EVENT, "reason": reason}
    )


def sockets_close_for_session(*, session_key: str, reason: str) -> None:
    """Close the sockets opened with one session (logout)."""
    async_to_sync(get_channel_layer().group_send)(
        session_group(session_key), {"type": CLOSE_EVENT, "reason": reason}
    )
