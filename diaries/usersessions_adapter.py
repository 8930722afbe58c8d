"""django-allauth's user-sessions adapter: ending a session also closes its open sockets."""

from __future__ import annotations

from allauth.usersessions.adapter import DefaultUserSessionsAdapter

from . import realtime


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        """Sign out everywhere else: each session ends, then its sockets close (4401)."""
        for session in sessions:
            session_key = session.session_key
            session.end()
            realtime.sockets_close_for_session(session_key=session_key, reason="signed_out")
