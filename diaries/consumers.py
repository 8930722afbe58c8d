"""The diary socket, `/ws/diary/`: validates, checks ownership, dispatches; never runs a stream.

Channels runs one handler at a time per connection, so the long work (a model stream) runs in
the generation's own task (diaries.generation) and reaches this consumer as channel-layer events
of the entry's group (diaries/realtime/events.py): `diary.started`, `diary.delta`, `diary.done`,
`diary.error`, and `diary.snapshot` replies from the process that owns a generation. Every event
is handled in this consumer's own task, one at a time, as Channels dispatches it: a watch's state
changes nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import protocol, realtime, selectors
from .exceptions import Busy, DiaryError, RateLimited
from .forms import EntryInputsForm
from .generation import get_hub
from .models import DiaryEntry, Generation, GenerationStatus, Language
from .services.accounts import profile_get
from .services.entries import entry_build
from .services.generations import generation_stop

logger = logging.getLogger(__name__)

# Application close codes (4000-4999): autobahn, under daphne, refuses 1009 and 1013 from a
# server (it raises, and the handler that closes dies).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_BIG = 4009
CLOSE_TRY_AGAIN_LATER = 4013
MAX_BUFFERED_EVENTS = 2000
# `watch` refused (too soon after the last snapshot) this many times in a row closes the socket.
MAX_REFUSED_WATCHES = 3

# Open sockets per user in this process (DIARY_MAX_SOCKETS_PER_USER).
_open_sockets: dict[int, int] = {}


@dataclass
class Watch:
    """This connection's view of one entry's stream."""

    generation: int | None = None
    last: int = 0  # seq of the last delta sent to the client
    synced: bool = False  # False while waiting for a snapshot; events are buffered meanwhile
    buffer: list[dict[str, Any]] = field(default_factory=list)
    attempt: int = 0  # ignores late answers to an earlier snapshot request
    # The `watch` throttle: when the client last got a snapshot for asking, of which
    # generation and entry status, and how many times since it asked again too soon.
    watched_at: float | None = None
    watched_status: str = ""
    snapshot_generation: int | None = None
    refused: int = 0


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class DiaryConsumer(AsyncWebsocketConsumer):
    closing = False  # closed by us: what the client sends meanwhile is not answered
    released = False  # the socket's place and groups given back

    async def __call__(self, scope, receive, send):
        # Channels' entry point. However the consumer ends (a handler raised, the server
        # cancelled it), the socket's place in the per-user count and its groups are given
        # back: a leak would refuse the user's handshakes for good.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.release()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        if await database_sync_to_async(selectors.user_needs_second_factor)(user=user):
            await self.close()  # staff add a second factor first, as before any page
            return
        if _open_sockets.get(user.pk, 0) >= settings.DIARY_MAX_SOCKETS_PER_USER:
            await self.close()  # too many tabs: refused like any other handshake
            return
        _open_sockets[user.pk] = _open_sockets.get(user.pk, 0) + 1
        self.user = user
        self.watching: dict[int, Watch] = {}
        self.bucket = TokenBucket(settings.DIARY_MESSAGES_PER_SECOND, settings.DIARY_MESSAGE_BURST)
        self.timers: set[asyncio.Task] = set()
        # Logout, password change and deactivation reach this socket through these groups.
        self.groups_joined = [realtime.user_group(user.pk)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            self.groups_joined.append(realtime.session_group(session_key))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def release(self) -> None:
        """Give back the socket's place and leave its groups, once.

        The generations go on (guarantee 3); this socket just stops listening."""
        if not hasattr(self, "user") or self.released:
            return
        self.released = True
        _open_sockets[self.user.pk] -= 1
        if _open_sockets[self.user.pk] <= 0:
            del _open_sockets[self.user.pk]
        for task in self.timers:
            task.cancel()
        for entry_id in list(self.watching):
            await self.channel_layer.group_discard(
                realtime.entry_group(entry_id), self.channel_name
            )
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def diary_close(self, event: dict[str, Any]) -> None:
        """The user signed out, changed their password or was deactivated."""
        await self.send_error("bad_request", "You are signed out. Sign in again.")
        await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- client → server ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.DIARY_MAX_MESSAGE_BYTES:
            await self.send_json(
                {"type": "error", "code": "bad_request", "message": "The message is too large."}
            )
            await self.close(code=CLOSE_TOO_BIG)
            return
        entry = None
        try:
            if not self.bucket.take():
                raise RateLimited("Too many messages; slow down a little.")
            # One trip to the database thread for both checks of every message.
            within_rate, signed_in = await database_sync_to_async(self._gate)()
            if not within_rate:
                raise RateLimited("Too many messages; slow down a little.")
            message = protocol.parse(text_data, bytes_data)
            entry = message.get("entry") if isinstance(message.get("entry"), int) else None
            if not signed_in:
                await self.send_json(
                    {
                        "type": "error",
                        "code": "bad_request",
                        "message": "You are signed out. Sign in again.",
                    }
                )
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            handler = getattr(self, f"action_{message['action']}")
            await handler(message)
        except DiaryError as exc:
            fields = getattr(exc, "fields", None)
            await self.send_error(exc.code, exc.message, entry=exc.entry or entry, fields=fields)
        except DiaryEntry.DoesNotExist:
            await self.send_error("not_found", "There is no such entry of yours.", entry=entry)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable for a socket message: %s", type(exc).__name__)
            await self.send_error(
                "internal",
                "The diary's database is unavailable for a moment. Nothing is lost; "
                "please try again shortly.",
                entry=entry,
            )
        except Exception:
            logger.exception("diary socket message failed")
            await self.send_error(
                "internal", "Something went wrong on our side. Please try again.", entry=entry
            )

    async def action_generate(self, message: dict[str, Any]) -> None:
        """Start writing an own entry, or a new one from the inputs; stream it to this socket."""
        entry_id = protocol.entry_id(message, required=False)
        if entry_id is not None:
            await self.write(message, lambda: self._own_entry(entry_id))
        else:
            await self.write(message, lambda: self._create_entry(protocol.inputs(message)))

    async def action_sendmessage(self, message: dict[str, Any]) -> None:
        """The original service's message: today's entry from free text."""
        text = protocol.free_text(message)
        await self.write(message, lambda: self._free_text_entry(text))

    async def write(
        self, message: dict[str, Any], entry_to_write: Callable[[], DiaryEntry]
    ) -> None:
        """Start writing the entry `entry_to_write()` gives (run in the database thread): an
        own entry, or a new one not saved yet, which the start saves only if it is accepted.

        A resend of a request_id (after a reconnect) attaches to what it started and starts
        and saves nothing new.
        """
        request_id = protocol.request_id(message)
        replace_edit = protocol.replace_edit(message)

        def prepare() -> tuple[Generation | None, DiaryEntry | None]:  # one trip to the thread
            if request_id:
                existing = selectors.generation_for_request(user=self.user, request_id=request_id)
                if existing is not None:
                    return existing, None
            return None, entry_to_write()

        repeat, entry = await database_sync_to_async(prepare)()
        if repeat is not None:
            await self.attach(repeat.entry)
            return
        await self.start(entry, request_id, replace_edit=replace_edit)

    async def action_watch(self, message: dict[str, Any]) -> None:
        """Attach: the text so far, then the live rest."""
        entry = await self.own_entry(protocol.entry_id(message))
        if await self.watch_refused(entry):
            return
        await self.attach(entry)

    async def watch_refused(self, entry: DiaryEntry) -> bool:
        """At most one snapshot of an entry per DIARY_SNAPSHOT_TIMEOUT for this socket, unless
        the generation moved on (a new one started, or the entry's status changed): a client
        that stopped reading but keeps asking must not make the server queue snapshot after
        snapshot. Asking too soon gets `rate_limited` (the page asks again later); more than
        MAX_REFUSED_WATCHES times in a row closes the socket with 4013 (try again later)."""
        watch = await self.join(entry.pk)
        now = time.monotonic()
        if (
            watch.watched_at is None
            or now - watch.watched_at >= settings.DIARY_SNAPSHOT_TIMEOUT
            or entry.status != watch.watched_status
            or watch.generation != watch.snapshot_generation
        ):
            watch.watched_at, watch.watched_status, watch.refused = now, entry.status, 0
            return False
        watch.refused += 1
        if watch.refused <= MAX_REFUSED_WATCHES:
            raise RateLimited(
                "The text of this entry was just sent; ask again in a moment.",
                entry=entry.pk,
            )
        logger.info("closing a socket that keeps asking for snapshots (entry %s)", entry.pk)
        await self.send_error(
            "rate_limited", "Too many requests for the same text; reconnect later.", entry=entry.pk
        )
        self.closing = True
        await self.close(code=CLOSE_TRY_AGAIN_LATER)
        return True

    async def action_cancel(self, message: dict[str, Any]) -> None:
        """Stop the entry's running generation; its partial text is kept."""
        entry = await self.own_entry(protocol.entry_id(message))
        if entry.pk not in self.watching:
            await self.attach(entry)  # so this socket sees the saved end
        if get_hub().stop(entry_id=entry.pk):
            return
        running = await database_sync_to_async(selectors.generation_running)(entry_id=entry.pk)
        if running is None:
            raise protocol.bad("This entry is not being written.", entry=entry.pk)
        await database_sync_to_async(generation_stop)(generation=running)

    # --- helpers -----------------------------------------------------------------------------

    async def start(
        self, entry: DiaryEntry, request_id: str | None, *, replace_edit: bool = False
    ) -> None:
        """Start writing `entry`. A new entry (not saved yet) is saved by the start, only when
        it is accepted: a refusal (quota, running limit, the owner's own text without
        `replace_edit`) saves nothing and the notes stay in the client's form."""
        watch: Watch | None = None

        async def join_new(saved: DiaryEntry) -> None:  # before the runner's first frame
            nonlocal watch
            watch = await self.join(saved.pk)

        new = entry.pk is None
        if not new:
            watch = await self.join(entry.pk)
        try:
            result = await get_hub().start(
                user=self.user,
                entry=entry,
                request_id=request_id,
                before_run=join_new if new else None,
                replace_edit=replace_edit,
            )
        except Busy as exc:
            await self.send_error(exc.code, exc.message, entry=exc.entry)
            if not new:
                await self.attach(entry)  # a second request joins the running stream instead
            return
        if not result.created:
            await self.attach(result.entry)  # a repeated request_id: nothing new is started
            return
        if watch is None:  # the socket could not join before the start: catch up
            await self.attach(result.entry)
            return
        # Joined before the start, so every delta reaches us from seq 1 on (the runner's
        # events wait in this socket's channel until this handler returns).
        if watch.generation != result.generation.pk:
            watch.generation = result.generation.pk
            watch.last = 0
            watch.synced = True

    async def join(self, entry_id: int) -> Watch:
        watch = self.watching.get(entry_id)
        if watch is None:
            watch = self.watching[entry_id] = Watch()
            await self.channel_layer.group_add(realtime.entry_group(entry_id), self.channel_name)
        return watch

    async def attach(self, entry: DiaryEntry) -> None:
        """Send a snapshot, from the owning runner or the database checkpoint."""
        watch = await self.join(entry.pk)
        watch.synced = False
        watch.attempt += 1
        attempt = watch.attempt
        runner = get_hub().local(entry.pk)
        if runner is not None:
            await self.apply_snapshot(entry.pk, runner.snapshot(), attempt)
            return
        state = await database_sync_to_async(selectors.entry_state)(entry=entry)
        if state.status == GenerationStatus.GENERATING and state.fresh and state.owner_channel:
            await get_hub().ask_snapshot(
                owner_channel=state.owner_channel, entry_id=entry.pk, reply_to=self.channel_name
            )
            timer = asyncio.create_task(self.snapshot_fallback(entry.pk, attempt))
            self.timers.add(timer)
            timer.add_done_callback(self.timers.discard)
            return
        await self.apply_snapshot(entry.pk, self.state_snapshot(state), attempt)

    async def snapshot_fallback(self, entry_id: int, attempt: int) -> None:
        """No answer from the owning process in time: the checkpoint serves. The request goes
        through this socket's own channel, so it is handled in order with the stream's events."""
        await asyncio.sleep(settings.DIARY_SNAPSHOT_TIMEOUT)
        watch = self.watching.get(entry_id)
        if watch is None or watch.synced or watch.attempt != attempt:
            return
        await self.channel_layer.send(
            self.channel_name, realtime.events.snapshot_missing(entry=entry_id, attempt=attempt)
        )

    @staticmethod
    def state_snapshot(state: selectors.EntryState) -> dict[str, Any]:
        snapshot = {
            "entry": state.entry_id,
            "generation": state.generation_id,
            "status": state.status,
            "text": state.text,
            "seq": state.seq,
        }
        if state.error_code:
            snapshot.update(code=state.error_code, message=state.error_message)
        return snapshot

    async def apply_snapshot(self, entry_id: int, snapshot: dict[str, Any], attempt: int) -> None:
        watch = self.watching.get(entry_id)
        if watch is None or watch.synced or watch.attempt != attempt:
            return
        watch.generation = snapshot.get("generation")
        watch.snapshot_generation = watch.generation
        watch.last = snapshot["seq"]
        watch.synced = True
        buffered, watch.buffer = watch.buffer, []
        await self.send_json({"type": "snapshot", **snapshot})
        for event in buffered:  # events that arrived while the snapshot was on its way
            await getattr(self, event["type"].replace(".", "_"))(event)

    async def own_entry(self, entry_id: int) -> DiaryEntry:
        return await database_sync_to_async(self._own_entry)(entry_id)

    def _own_entry(self, entry_id: int) -> DiaryEntry:
        return selectors.entry_get_for_user(user=self.user, entry_id=entry_id)

    def _free_text_entry(self, text: str) -> DiaryEntry:
        """Today's new entry from free text, not saved yet (the start saves it)."""
        profile = profile_get(user=self.user)
        return entry_build(
            user=self.user,
            notes=text,
            date=timezone.localdate(),
            tone=profile.default_tone,
            language=Language.of_text(text)  # answer in the language of the message
            or profile.default_language
            or Language.from_code(settings.LANGUAGE_CODE),
        )

    def _create_entry(self, data: dict[str, str]) -> DiaryEntry:
        """Validate the inputs with the page form's rules; the entry is saved by the start,
        before any model call (guarantee 1), and only when the start is accepted."""
        profile = profile_get(user=self.user)
        data.setdefault("date", timezone.localdate().isoformat())
        data.setdefault("tone", profile.default_tone)
        data.setdefault(
            "language", profile.default_language or Language.from_code(settings.LANGUAGE_CODE)
        )
        form = EntryInputsForm(data=data)
        if not form.is_valid():
            raise protocol.invalid(form.errors)
        return entry_build(user=self.user, **form.cleaned_data)

    def _gate(self) -> tuple[bool, bool]:
        """(within the user's message rate, still signed in), in the database thread."""
        return self._user_within_rate(), self._session_user_id() == self.user.pk

    def _user_within_rate(self) -> bool:
        """Messages per second per user, across all their sockets and server processes."""
        key = f"diary-rate:{self.user.pk}:{int(time.time())}"
        try:
            cache.add(key, 0, timeout=5)
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            return True
        except Exception as exc:
            # The cache (Redis) is down: the per-connection bucket still limits this socket.
            logger.warning("rate-limit cache unavailable: %s", type(exc).__name__)
            return True
        return count <= settings.DIARY_USER_MESSAGES_PER_SECOND

    def _session_user_id(self) -> int | None:
        """Authentication on every message: the session must still hold this active user."""
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        if not key:
            return None
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        user = auth.get_user(SimpleNamespace(session=store))
        return user.pk if user.is_authenticated else None

    async def send_json(self, content: dict[str, Any]) -> None:
        if self.closing:  # closed by us (4013): daphne refuses frames after the close frame
            return
        await self.send(text_data=json.dumps(content, ensure_ascii=False))

    async def send_error(
        self, code: str, message: str, *, entry: int | None = None, fields: dict | None = None
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if entry is not None:
            frame["entry"] = entry
        if fields:
            frame["fields"] = fields
        await self.send_json(frame)

    # --- server events (channel layer) -------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch closes stale database connections before every event: a hop
        # through the database thread per frame per socket. Stream events touch the database
        # only through database_sync_to_async (a resync), which does that itself.
        if message["type"].startswith("diary."):
            await getattr(self, message["type"].replace(".", "_"))(message)
            return
        await super().dispatch(message)

    def _buffered(self, event: dict[str, Any]) -> Watch | None:
        """The entry's watch if the event should be handled now; None if dropped or buffered."""
        watch = self.watching.get(event.get("entry"))
        if watch is None:
            return None
        if not watch.synced:
            if len(watch.buffer) < MAX_BUFFERED_EVENTS:
                watch.buffer.append(event)
            return None
        return watch

    async def diary_started(self, event: dict[str, Any]) -> None:
        watch = self._buffered(event)
        if watch is None:
            return
        watch.generation = event["generation"]
        watch.last = 0
        await self.send_json(
            {"type": "started", "entry": event["entry"], "generation": event["generation"]}
        )

    async def diary_delta(self, event: dict[str, Any]) -> None:
        watch = self._buffered(event)
        if watch is None:
            return
        seq = event["seq"]
        if event["generation"] == watch.generation and seq <= watch.last:
            return  # already in the snapshot or sent
        if event["generation"] == watch.generation and seq == watch.last + 1:
            watch.last = seq
            await self.send_json(
                {
                    "type": "delta",
                    "entry": event["entry"],
                    "seq": seq,
                    "text": event["text"],
                    "generation": event["generation"],
                }
            )
            return
        # A gap (a dropped message) or a generation we missed: resynchronise.
        await self.resync(event["entry"])

    async def resync(self, entry_id: int) -> None:
        """Attach again; what arrives meanwhile waits for the snapshot."""
        try:
            await self.attach(await self.own_entry(entry_id))
        except DiaryError as exc:
            await self.send_error(exc.code, exc.message, entry=entry_id)
        except Exception:
            logger.exception("resynchronising entry %s failed", entry_id)

    async def diary_done(self, event: dict[str, Any]) -> None:
        watch = self._buffered(event)
        if watch is None:
            return
        watch.generation = event["generation"]
        watch.last = event["seq"]
        await self.send_json(
            {
                "type": "done",
                "entry": event["entry"],
                "generation": event["generation"],
                "status": event["status"],
                "text": event["text"],
                "usage": event["usage"],
                "finish_reason": event.get("finish_reason", ""),
            }
        )

    async def diary_error(self, event: dict[str, Any]) -> None:
        if self._buffered(event) is None:
            return
        await self.send_error(event["code"], event["message"], entry=event["entry"])

    async def diary_snapshot(self, event: dict[str, Any]) -> None:
        """A snapshot: the owning process's answer, or (`missing`) a call to read the checkpoint
        because no process holds the generation or none answered in time."""
        entry_id = event.get("entry")
        watch = self.watching.get(entry_id)
        if watch is None or watch.synced:
            return
        attempt = event.get("attempt", watch.attempt)
        if event.get("missing"):
            try:
                entry = await self.own_entry(entry_id)
            except DiaryEntry.DoesNotExist:
                await self.send_error(
                    "not_found", "There is no such entry of yours.", entry=entry_id
                )
                return
            state = await database_sync_to_async(selectors.entry_state)(entry=entry)
            await self.apply_snapshot(entry_id, self.state_snapshot(state), attempt)
            return
        snapshot = {k: event[k] for k in ("entry", "generation", "status", "text", "seq")}
        await self.apply_snapshot(entry_id, snapshot, attempt)
