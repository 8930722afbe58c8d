"""Groups and typed channel-layer events: how a stream's frames and a socket's close reach
sockets, in this process or another (`groups`, `events`)."""

from . import events
from .groups import (
    entry_group,
    session_group,
    sockets_close_for_session,
    sockets_close_for_user,
    user_group,
)

__all__ = [
    "entry_group",
    "events",
    "session_group",
    "sockets_close_for_session",
    "sockets_close_for_user",
    "user_group",
]
