"""Test data and a scripted writer: users, entries, and a writer that yields a script."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from diaries.models import DiaryEntry, EntryStatus, Generation, GenerationStatus
from diaries.services.entries import entry_create
from diaries.writers import Finish, Usage, WriterError, WriterRequest

_counter = itertools.count(1)
FINISH = Finish("stop", Usage(10, 5, 15))
PIECES = ("Dear ", "diary, ", "today ", "was ", "good.")


def make_user(username: str | None = None, password: str = "a-long-diary-passphrase-42"):
    username = username or f"writer{next(_counter)}"
    return get_user_model().objects.create_user(username=username, password=password)


def make_entry(user, **fields: Any) -> DiaryEntry:
    defaults = {"morning": "ran by the river", "afternoon": "lunch with Aiko", "evening": ""}
    return entry_create(user=user, **{**defaults, **fields})


class ScriptedWriter:
    """A writer that yields a script, paced, and records what it was asked and whether it
    was closed before the end (as an upstream HTTP stream would be)."""

    name = "scripted"
    model = "scripted-1"

    def __init__(
        self,
        pieces: list[str] | None = None,
        *,
        delay: float = 0.0,
        first_delay: float = 0.0,
        finish: Finish | None = FINISH,
        error: WriterError | Exception | None = None,
        error_after: int | None = None,
        hold: asyncio.Event | None = None,
    ) -> None:
        self.pieces = list(PIECES) if pieces is None else pieces
        self.delay = delay
        self.first_delay = first_delay
        self.finish = finish
        self.error = error
        self.error_after = len(self.pieces) if error_after is None else error_after
        self.hold = hold  # when set, the stream waits on it after the pieces (before finishing)
        self.calls: list[WriterRequest] = []
        self.closed_early = 0
        self.completed = 0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def stream(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        self.calls.append(request)
        finished = False
        try:
            if self.first_delay:
                await asyncio.sleep(self.first_delay)
            for index, piece in enumerate(self.pieces):
                if self.error is not None and index == self.error_after:
                    raise self.error
                yield piece
                if self.delay:
                    await asyncio.sleep(self.delay)
            if self.error is not None and self.error_after >= len(self.pieces):
                raise self.error
            if self.hold is not None:
                await self.hold.wait()
            if self.finish is not None:
                yield self.finish
            finished = True
        finally:
            if finished:
                self.completed += 1
            else:
                self.closed_early += 1


def checkpoints_recorded(monkeypatch) -> list[str]:
    """Every text a checkpoint writes from now on (as the hub hands it over, before sealing),
    appended to the returned list; the checkpoints still happen."""
    from diaries.services import generations

    texts: list[str] = []
    real = generations.generations_checkpoint

    def recording(**kwargs):
        texts.extend(sealed.text for sealed, _seq in kwargs["texts"].values())
        return real(**kwargs)

    monkeypatch.setattr(generations, "generations_checkpoint", recording)
    return texts


def generation_finished(entry: DiaryEntry, text: str) -> Generation:
    """A finished offline generation of `entry`, which becomes its text."""
    generation = Generation.objects.create(
        entry=entry,
        status=GenerationStatus.DONE,
        text=text,
        writer="offline",
        model_name="nikki-offline-1",
        tone=entry.tone,
        language=entry.language,
        finished_at=timezone.now(),
    )
    entry.text, entry.status, entry.writer = text, EntryStatus.DONE, "offline"
    entry.save()
    return generation


def written(user, text: str, **fields: Any) -> DiaryEntry:
    """An entry as a finished generation leaves it; `fields` set its date and notes."""
    entry = make_entry(user, **fields)
    generation_finished(entry, text)
    return entry
