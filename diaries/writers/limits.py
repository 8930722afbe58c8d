"""How long an answer may run: which request field carries the limit, and the writer's own
count for servers that do not honour it. No Django here.

OpenAI's API reads `max_completion_tokens` (its reasoning models refuse the older `max_tokens`);
the OpenAI-compatible servers people run read `max_tokens` and ignore the newer name
(llama-cpp-python, Ollama, LM Studio), so a model that does not stop by itself would write until
its context is full. Whatever the server does, `OutputLimit` ends the answer after the limit's
number of content chunks or characters.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["AUTO", "MAX_TOKENS_PARAMS", "OPENAI_HOSTS", "OutputLimit", "max_tokens_param_for"]

AUTO = "auto"
MAX_TOKENS_PARAMS = ("max_completion_tokens", "max_tokens")
OPENAI_HOSTS = frozenset({"api.openai.com"})


def max_tokens_param_for(base_url: str, choice: str = AUTO) -> str:
    """The request field for the answer's limit: `choice` when it names one, else by the
    server — `max_completion_tokens` for OpenAI's own API, `max_tokens` for any other."""
    if choice in MAX_TOKENS_PARAMS:
        return choice
    if choice not in (AUTO, ""):
        raise ValueError(
            f"max_tokens_param must be {AUTO!r} or one of {', '.join(MAX_TOKENS_PARAMS)}, "
            f"not {choice!r}"
        )
    host = (urlsplit(base_url).hostname or "").lower()
    return "max_completion_tokens" if host in OPENAI_HOSTS else "max_tokens"


class OutputLimit:
    """Counts an answer's content chunks and characters, and says where it must stop.

    A server that honours the limit sends at most `max_chunks` content chunks (a chunk is a
    token or more), then its finish: the count never stops it early, and its usage and finish
    are still read. A content chunk past `max_chunks`, or text past `max_chars`, means the
    server is not stopping: the text is cut there and the stream must be closed.
    """

    __slots__ = ("chars", "chunks", "max_chars", "max_chunks", "reached")

    def __init__(self, *, max_chunks: int | None, max_chars: int | None) -> None:
        self.max_chunks = max_chunks
        self.max_chars = max_chars
        self.chunks = 0
        self.chars = 0
        self.reached = False

    def take(self, pieces: list[str]) -> str:
        """The text of `pieces` (one per content chunk) within the limit; sets `reached` when
        the answer went past it (the rest of `pieces` is dropped)."""
        kept: list[str] = []
        for piece in pieces:
            if self.max_chunks is not None and self.chunks >= self.max_chunks:
                self.reached = True
                break
            self.chunks += 1
            if self.max_chars is not None and self.chars + len(piece) > self.max_chars:
                kept.append(piece[: self.max_chars - self.chars])
                self.chars = self.max_chars
                self.reached = True
                break
            kept.append(piece)
            self.chars += len(piece)
        return kept[0] if len(kept) == 1 else "".join(kept)
