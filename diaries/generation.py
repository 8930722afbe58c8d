"""One generation's life, from start to its saved end.

A `Runner` owns one generation in this process. It runs in its own asyncio task, so it outlives
the WebSocket that started it (guarantee 3). Two coroutines cooperate:

- the *pump* reads the writer's stream into `pending`;
- the *flush loop* turns `pending` into numbered `delta` frames — the first piece at once, then at
  most one frame per `DIARY_FLUSH_MS` (guarantee 7) — and saves the end on every way out.

The hub checkpoints the flushed text and the heartbeat of all its runners about once a second
in one database call (guarantee 4), off the streams' own path.

Stopping cancels the pump, which closes the writer's stream and so the upstream HTTP response
(guarantee 5). The per-process `Hub` keeps the runners, answers snapshot and cancel requests that
other processes send over the channel layer (guarantee 6), sweeps stale generations, and marks
running generations `interrupted` when the server shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from keystore.fields import seal

from . import realtime, selectors
from .models import DiaryEntry, Generation, GenerationStatus
from .prompts import build_messages
from .pseudonyms import Restorer, pseudonymise
from .services import checks, generations, trash
from .writer_settings import writer_from_settings
from .writers import Finish, Writer, WriterError, WriterRequest

logger = logging.getLogger(__name__)

STOP_CANCELLED = "cancelled"
STOP_INTERRUPTED = "interrupted"
STOP_TIMEOUT = "timeout"


def writer_request_for(
    entry: DiaryEntry, *, private_names: Sequence[str] = (), variant: str = ""
) -> tuple[WriterRequest, Restorer | None]:
    """What the writer is asked, and the restorer of its stream when names are kept from it:
    the listed names in the notes are placeholders in the request, names again in the text.
    `variant` names the attempt, so that a regeneration reads differently."""
    inputs = entry.inputs()
    if not any(inputs[name].strip() for name in DiaryEntry.NOTE_FIELDS):
        # An entry written by hand has no notes: the model writes (polishes) from its text.
        inputs["notes"] = entry.text
    hidden = pseudonymise(inputs, private_names, keys=DiaryEntry.NOTE_FIELDS)
    request = WriterRequest(
        **hidden.fields,
        messages=build_messages(**hidden.fields, placeholders=hidden.placeholders),
        max_tokens=settings.DIARY_MAX_TOKENS,
        max_chars=settings.DIARY_MAX_TEXT_CHARS,
        variant=variant,
    )
    return request, hidden.restorer() if hidden.names else None


class Runner:
    """Runs one generation in this process and broadcasts it to the entry's group."""

    def __init__(
        self,
        *,
        hub: Hub,
        entry_id: int,
        owner_id: int,
        generation_id: int,
        writer: Writer,
        request: WriterRequest,
        restorer: Restorer | None = None,
    ) -> None:
        self.hub = hub
        self.entry_id = entry_id
        self.owner_id = owner_id  # whose data key seals the checkpoints
        self.generation_id = generation_id
        self.writer = writer
        self.request = request
        # Names kept from the model come back here, before anything downstream (frames,
        # checkpoints, the saved text, moderation) sees the writer's pieces.
        self.restorer = restorer
        self.group = realtime.entry_group(entry_id)
        self.status = GenerationStatus.GENERATING.value
        self.text = ""  # everything flushed so far, i.e. deltas 1..seq
        self.seq = 0
        self.pending: list[str] = []
        self.finish: Finish | None = None
        self.stop_reason: str | None = None
        self.started = time.monotonic()
        self.first_piece_at: float | None = None
        self.task: asyncio.Task | None = None
        self._pump_task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._send_failing = False

    # --- what clients and other processes ask of a runner ------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The text so far; `seq` is the last delta it includes."""
        return {
            "entry": self.entry_id,
            "generation": self.generation_id,
            "status": self.status,
            "text": self.text,
            "seq": self.seq,
        }

    def stop(self, reason: str = STOP_CANCELLED) -> None:
        """Stop writing: closes the upstream stream; the flush loop then saves the end."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._pump_task is not None and not self._pump_task.done():
            self._pump_task.cancel()
        self._wake.set()

    # --- the life ----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._send(
                realtime.events.started(entry=self.entry_id, generation=self.generation_id)
            )
            self._pump_task = asyncio.create_task(self._pump())
            if self.stop_reason is not None:  # stopped before the pump existed
                self._pump_task.cancel()
            await self._flush_loop(self._pump_task)
            await self._finish(self._outcome(self._pump_task))
        except BaseException as exc:
            # Last resort: whatever happened, save what we have (guarantee 4).
            if self._pump_task is not None:
                self._pump_task.cancel()
            if self.status == GenerationStatus.GENERATING:
                logger.exception("generation %s crashed", self.generation_id)
                await asyncio.shield(self._finish(self._internal_error()))
            if not isinstance(exc, Exception):
                raise
        finally:
            self.hub.forget(self)

    async def _pump(self) -> None:
        stream = self.writer.stream(self.request)
        try:
            async for item in stream:
                if isinstance(item, str):
                    self._take(self.restorer.feed(item) if self.restorer else item)
                else:
                    self.finish = item
        finally:
            # Closing the generator closes the upstream response (openai-python #969).
            await stream.aclose()
            if self.restorer is not None:
                self._take(self.restorer.end())  # a held-back tail is never lost
            self._wake.set()

    def _take(self, piece: str) -> None:
        if piece:
            if self.first_piece_at is None:
                self.first_piece_at = time.monotonic()
            self.pending.append(piece)
            self._wake.set()

    async def _flush_loop(self, pump: asyncio.Task) -> None:
        window = settings.DIARY_FLUSH_MS / 1000
        deadline = self.started + settings.DIARY_GENERATION_TIMEOUT
        while True:
            if not self.pending and not pump.done():
                try:
                    async with asyncio.timeout(max(deadline - time.monotonic(), 0.01)):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            if self.pending:
                await self._flush()
            if pump.done():
                return
            if time.monotonic() >= deadline:
                self.stop(STOP_TIMEOUT)
                continue
            # The coalescing window: pieces arriving meanwhile go out together.
            await asyncio.sleep(window)

    async def _flush(self) -> None:
        piece = "".join(self.pending)
        self.pending.clear()
        self.seq += 1
        self.text += piece
        await self._send(
            realtime.events.delta(
                entry=self.entry_id, generation=self.generation_id, seq=self.seq, text=piece
            )
        )

    def _outcome(self, pump: asyncio.Task) -> dict[str, Any]:
        if self.stop_reason == STOP_CANCELLED:
            return {"status": GenerationStatus.CANCELLED}
        if self.stop_reason == STOP_INTERRUPTED:
            return {
                "status": GenerationStatus.INTERRUPTED,
                "error_code": "interrupted",
                "error_message": generations.INTERRUPTED_MESSAGE,
            }
        if self.stop_reason == STOP_TIMEOUT:
            return {
                "status": GenerationStatus.FAILED,
                "error_code": "upstream_timeout",
                "error_message": (
                    f"The model took longer than {settings.DIARY_GENERATION_TIMEOUT:.0f} "
                    "seconds to write this entry. The text so far is kept; press Retry."
                ),
            }
        exc = pump.exception() if not pump.cancelled() else None
        if isinstance(exc, WriterError):
            return {"status": exc.status, "error_code": exc.code, "error_message": exc.message}
        if exc is not None:
            logger.error(
                "writer %s failed on generation %s: %s",
                self.writer.name,
                self.generation_id,
                type(exc).__name__,
                exc_info=exc,
            )
            return self._internal_error()
        if self.finish is None:
            return {
                "status": GenerationStatus.FAILED,
                "error_code": "upstream_unavailable",
                "error_message": (
                    "The connection to the model ended before the entry was finished. "
                    "The text so far is kept; press Retry."
                ),
            }
        return {"status": GenerationStatus.DONE, "finish_reason": self.finish.reason}

    @staticmethod
    def _internal_error() -> dict[str, Any]:
        return {
            "status": GenerationStatus.FAILED,
            "error_code": "internal",
            "error_message": (
                "Something went wrong on our side while writing this entry. "
                "The text so far is kept; press Retry."
            ),
        }

    async def _finish(self, outcome: dict[str, Any]) -> None:
        if self.pending:  # never lose the last pieces
            await self._flush()
        status = str(outcome["status"])
        usage = self.finish.usage.as_dict() if self.finish and self.finish.usage else None
        ttft = round((self.first_piece_at - self.started) * 1000) if self.first_piece_at else None
        fields = {
            "generation_id": self.generation_id,
            "status": status,
            "text": self.text,
            "seq": self.seq,
            "error_code": outcome.get("error_code", ""),
            "error_message": outcome.get("error_message", ""),
            "finish_reason": outcome.get("finish_reason", ""),
            "usage": usage,
            "time_to_first_token_ms": ttft,
            "duration_ms": round((time.monotonic() - self.started) * 1000),
        }
        publishable = status in (GenerationStatus.DONE, GenerationStatus.CANCELLED) and self.text
        checker = checks.local_checker() if publishable else None
        if checker is not None:
            # An in-process check (the word list) costs microseconds: its verdict is saved with
            # the end, in the same transaction, instead of in a second one after it.
            fields["check"] = await checks.check_text(
                checker, generation_id=self.generation_id, text=self.text
            )
        await self._save_end(fields)
        self.status = status
        if fields["error_code"] and status != GenerationStatus.CANCELLED:
            await self._send(
                realtime.events.error(
                    entry=self.entry_id,
                    code=fields["error_code"],
                    message=fields["error_message"],
                )
            )
        # `done` goes out only after the text is saved.
        await self._send(
            realtime.events.done(
                entry=self.entry_id,
                generation=self.generation_id,
                status=status,
                text=self.text,
                seq=self.seq,
                usage=usage,
                finish_reason=fields["finish_reason"],
            )
        )
        logger.info("generation %s ended %s after %d frames", self.generation_id, status, self.seq)
        if publishable and checker is None:
            # A checker with I/O (OpenAI's endpoint) runs in a task of its own now that the text
            # is saved and `done` is out: it delays nothing, cannot raise here, and text it has
            # not passed is never published (diaries/services/checks.py).
            checks.generation_check_soon(
                entry_id=self.entry_id, generation_id=self.generation_id, text=self.text
            )

    async def _save_end(self, fields: dict[str, Any]) -> None:
        """Save the end, retrying through a brief database outage; the sweeper is the backstop."""
        delay = 0.25
        for attempt in range(12):
            try:
                await database_sync_to_async(generations.generation_finish)(**fields)
                return
            except Generation.DoesNotExist:
                return  # the entry (or the account) was deleted meanwhile: nothing to save
            except Exception as exc:
                logger.warning(
                    "saving the end of generation %s failed (attempt %d): %s",
                    self.generation_id,
                    attempt + 1,
                    type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        logger.error("gave up saving generation %s; its last checkpoint stays", self.generation_id)

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self.hub.layer.group_send(self.group, message)
        except Exception as exc:
            # Watchers resynchronise on the next frame's gap or on reconnect. Log the outage
            # once, not once per frame.
            if not self._send_failing:
                logger.warning(
                    "group_send for generation %s failing: %s",
                    self.generation_id,
                    type(exc).__name__,
                )
            self._send_failing = True
        else:
            if self._send_failing:
                logger.warning("group_send for generation %s works again", self.generation_id)
            self._send_failing = False


class Hub:
    """This process's running generations, and its address on the channel layer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer = get_channel_layer()
        self.runners: dict[int, Runner] = {}
        self.channel = ""
        self._tasks: list[asyncio.Task] = []
        self._started = False
        self._lock = asyncio.Lock()

    async def ensure_started(self) -> None:
        async with self._lock:
            if self._started:
                return
            self.channel = await self.layer.new_channel()
            self._tasks = [
                asyncio.create_task(self._listen(), name="diary-hub-listen"),
                asyncio.create_task(self._sweep(), name="diary-hub-sweep"),
                asyncio.create_task(self._checkpoints(), name="diary-hub-checkpoints"),
            ]
            _install_shutdown_hook(self)
            self._started = True

    def local(self, entry_id: int) -> Runner | None:
        return self.runners.get(entry_id)

    def forget(self, runner: Runner) -> None:
        if self.runners.get(runner.entry_id) is runner:
            del self.runners[runner.entry_id]

    async def start(
        self,
        *,
        user,
        entry: DiaryEntry,
        request_id: str | None = None,
        writer: Writer | None = None,
        before_run: Callable[[DiaryEntry], Awaitable[None]] | None = None,
        replace_edit: bool = False,
    ) -> generations.StartResult:
        """Start writing `entry` in this process (raises DiaryError on refusal; `replace_edit`:
        the owner agreed to replace their own text).

        `before_run(entry)` is awaited once the start is saved and before the runner sends
        anything: a socket that starts a new entry joins its group there, so it misses no frame.
        """
        await self.ensure_started()
        writer = writer or writer_from_settings()
        result = await database_sync_to_async(generations.generation_start)(
            user=user,
            entry=entry,
            request_id=request_id,
            writer_name=writer.name,
            model_name=writer.model,
            owner_channel=self.channel,
            replace_edit=replace_edit,
        )
        if result.created:
            # A writer that keeps everything in this process (the offline one) needs no
            # placeholders; any other sends the notes away.
            private_names = (
                []
                if getattr(writer, "local", False)
                else await database_sync_to_async(selectors.names_kept_from_model)(
                    user_id=result.entry.owner_id
                )
            )
            request, restorer = writer_request_for(
                result.entry, private_names=private_names, variant=str(result.generation.pk)
            )
            if before_run is not None:
                try:
                    await before_run(result.entry)
                except Exception:
                    # The generation is saved as running: it runs (and its end is saved) even
                    # if the starting socket could not listen; a watch attaches later.
                    logger.exception("before_run failed for entry %s", result.entry.pk)
            runner = Runner(
                hub=self,
                entry_id=result.entry.pk,
                owner_id=result.entry.owner_id,
                generation_id=result.generation.pk,
                writer=writer,
                request=request,
                restorer=restorer,
            )
            self.runners[runner.entry_id] = runner
            runner.task = asyncio.create_task(
                runner.run(), name=f"generation-{runner.generation_id}"
            )
        return result

    def stop(self, *, entry_id: int) -> bool:
        """Stop the entry's generation if it runs in this process."""
        runner = self.local(entry_id)
        if runner is None:
            return False
        runner.stop(STOP_CANCELLED)
        return True

    async def ask_snapshot(self, *, owner_channel: str, entry_id: int, reply_to: str) -> None:
        await self.layer.send(
            owner_channel, realtime.events.snapshot_request(entry=entry_id, reply_to=reply_to)
        )

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("hub receive failed: %s; retrying", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            try:
                await self._answer(message)
            except Exception:
                logger.exception("hub could not answer %s", message.get("type"))

    async def _answer(self, message: dict[str, Any]) -> None:
        runner = self.local(int(message.get("entry", 0)))
        if message.get("type") == realtime.events.CANCEL_REQUEST:
            if runner is not None:
                runner.stop(STOP_CANCELLED)
        elif message.get("type") == realtime.events.SNAPSHOT_REQUEST:
            reply = (
                realtime.events.snapshot(**runner.snapshot())
                if runner is not None
                else realtime.events.snapshot_missing(entry=message.get("entry"))
            )
            await self.layer.send(message["reply_to"], reply)

    async def _checkpoints(self) -> None:
        """Every DIARY_CHECKPOINT_SECONDS, save the flushed text of this process's running
        generations and their heartbeat: one database call, whatever the number of streams,
        and never on a stream's own path."""
        saved: dict[int, int] = {}  # generation id → seq last saved
        while True:
            await asyncio.sleep(settings.DIARY_CHECKPOINT_SECONDS)
            runners = [r for r in self.runners.values() if r.status == GenerationStatus.GENERATING]
            if not runners:
                saved.clear()
                continue
            # Sealed once per checkpoint (in the database thread), never per token.
            texts = {
                r.generation_id: (seal(r.owner_id, r.text), r.seq)
                for r in runners
                if r.seq != saved.get(r.generation_id, 0)
            }
            alive = [r.generation_id for r in runners]
            try:
                await database_sync_to_async(generations.generations_checkpoint)(
                    texts=texts, alive=alive
                )
            except Exception as exc:
                # The streams go on; each end is saved with retries.
                logger.warning("checkpoint failed: %s", type(exc).__name__)
                continue
            saved.update((gid, seq) for gid, (_text, seq) in texts.items())
            saved = {gid: seq for gid, seq in saved.items() if gid in alive}

    async def _sweep(self) -> None:
        """Stale generations to `interrupted`, and the trash past DIARY_TRASH_DAYS emptied."""
        while True:
            for sweep in (generations.generations_sweep_stale, trash.trash_sweep_expired):
                try:
                    await database_sync_to_async(sweep)()
                except Exception as exc:
                    logger.warning("sweep failed: %s", type(exc).__name__)
            await asyncio.sleep(settings.DIARY_SWEEP_SECONDS)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Server shutdown: every running generation is saved as `interrupted`."""
        runners = list(self.runners.values())
        for runner in runners:
            runner.stop(STOP_INTERRUPTED)
        tasks = [r.task for r in runners if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in self._tasks:
            task.cancel()
        logger.info("hub shut down; %d generation(s) saved as interrupted", len(tasks))


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (one per process under daphne)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        hub = _hubs[loop] = Hub(loop)
    return hub


def start_with_server() -> None:
    """Under daphne, start this process's hub as the server starts, so that it sweeps
    generations a crashed predecessor left behind before anyone connects."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    async def boot() -> None:
        await get_hub().ensure_started()

    def start() -> None:
        # Startup triggers fire before the asyncio loop runs: schedule, don't look up the hub.
        task = asyncio.get_event_loop().create_task(boot())
        _background.add(task)
        task.add_done_callback(_background.discard)

    reactor.callWhenRunning(start)


_background: set[asyncio.Task] = set()


def _install_shutdown_hook(hub: Hub) -> None:
    """Under daphne, save running generations before the reactor stops (SIGTERM, SIGINT)."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    if not getattr(reactor, "running", False):
        return

    def before_shutdown():
        return defer.Deferred.fromFuture(asyncio.ensure_future(hub.shutdown()))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
