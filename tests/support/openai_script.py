"""What the scripted OpenAI-compatible server answers: `Script`, how one request went
(`RecordedRequest`), how a named server writes its stream (`Profile`), and OpenAI's bodies
(usage, errors) built from them. No I/O here."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_TOKENS: tuple[str, ...] = (
    "Today",
    " I",
    " woke",
    " up",
    " early",
    " and",
    " walked",
    " to",
    " the",
    " river",
    ".",
)

MAX_BODY = 16 * 1024 * 1024


def make_tokens(n: int, words: Sequence[str] = DEFAULT_TOKENS) -> list[str]:
    """`n` tokens cycling through `words` (the bench's "N tokens" answer)."""
    return list(itertools.islice(itertools.cycle(words), n))


@dataclass(frozen=True)
class Script:
    """How the server answers one request. All delays are in seconds.

    Timing: ``ttfb`` before the response headers; after the headers the role chunk goes out at
    once, then ``ttft`` before the first content chunk, then ``delay`` (or 1/``tokens_per_second``)
    between content chunks.

    Ending: ``finish_reason`` (None: no finish chunk at all), the usage chunk (``usage``: None
    follows the request's ``stream_options.include_usage``), ``done`` (send ``data: [DONE]``),
    ``abort_at_end`` (close the socket abruptly at the end instead of terminating the chunked body
    — what a proxy dropping the connection looks like), ``cut_after`` (abort the socket after that
    many content chunks: no finish, no usage, no [DONE]).

    ``runaway``: a model that never writes its end token. It writes ``tokens`` over and over
    until a limit it honours (``finish_reason`` "length"), else until its context is full (as
    the server's `Profile` says), else until the client goes away.

    Failures: ``status`` != 200 answers with an OpenAI-style JSON error body (``error_type``,
    ``error_code``, ``error_message`` override the defaults for that status; ``error_body`` replaces
    the whole body). ``stream_error`` sends ``data: {"error": {...}}`` after ``stream_error_after``
    content chunks and ends the stream. ``headers`` are added to the response (``retry-after-ms``,
    ``x-should-retry``…).
    """

    tokens: Sequence[str] = DEFAULT_TOKENS
    delay: float = 0.0
    tokens_per_second: float | None = None
    ttfb: float = 0.0
    ttft: float = 0.0
    chunk_size: int = 1
    finish_reason: str | None = "stop"
    usage: bool | None = None
    done: bool = True
    abort_at_end: bool = False
    cut_after: int | None = None
    honor_max_tokens: bool = True
    runaway: bool = False
    status: int = 200
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_body: dict[str, Any] | None = None
    stream_error: dict[str, Any] | None = None
    stream_error_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    model: str | None = None

    @property
    def interval(self) -> float:
        if self.tokens_per_second:
            return 1.0 / self.tokens_per_second
        return self.delay


@dataclass
class RecordedRequest:
    """One request as the server saw it, and how its answer ended."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON (None if the body was not JSON)
    raw_body: bytes
    script: Script
    received_at: float = field(default_factory=time.monotonic)
    status: int | None = None
    chunks_sent: int = 0  # content chunks written
    text_sent: str = ""
    completed: bool = False  # the server wrote the whole answer as scripted
    client_disconnected: bool = False  # the client went away before the server was done
    ended: bool = False  # the server finished handling this request, one way or another
    ended_at: float | None = None

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


def usage_for(
    body: dict[str, Any], completion_tokens: int, *, details: bool = True
) -> dict[str, Any]:
    """An OpenAI ``usage`` object; prompt tokens are counted as words (+4 per message)."""
    messages = body.get("messages") or []
    prompt_tokens = sum(
        len(str(m.get("content", "")).split()) + 4 for m in messages if isinstance(m, dict)
    )
    counts = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if not details:
        return counts
    return {
        **counts,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def error_body(message: str, etype: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


@dataclass(frozen=True)
class Profile:
    """How one OpenAI-compatible server writes a streamed chat completion: which request fields
    it reads, when it sends usage, and what its bytes look like. `OPENAI` is the default; the
    others (`PROFILES`) are the servers people run, each as its own code or tracker says."""

    name: str
    # The request fields that cap the answer, in the order the server reads them.
    limit_params: tuple[str, ...] = ("max_completion_tokens", "max_tokens")
    # "asked": a usage chunk (``choices: []``) when ``stream_options.include_usage``; "never".
    usage: Literal["asked", "never"] = "asked"
    usage_null_on_chunks: bool = True  # when asked, every other chunk carries "usage": null
    usage_details: bool = True  # prompt_tokens_details / completion_tokens_details
    compact_json: bool = True  # False: json.dumps's ", " and ": "
    ascii_json: bool = False  # non-ASCII as \uXXXX escapes
    escape_html: bool = False  # <, > and & as \u003c, \u003e, \u0026 (Go's encoding/json)
    line_end: str = "\n"
    ping_seconds: float | None = None  # a ": ping - <time>" comment this often
    content_type: str = "text/event-stream; charset=utf-8"
    # The first chunk's delta (None: no role chunk), the finish chunk's delta, and fields of
    # every chunk and every choice besides OpenAI's own.
    role_delta: Mapping[str, Any] | None = field(
        default_factory=lambda: {"role": "assistant", "content": "", "refusal": None}
    )
    finish_delta: Mapping[str, Any] = field(default_factory=dict)
    chunk_fields: Mapping[str, Any] = field(
        default_factory=lambda: {"service_tier": "default", "system_fingerprint": "fp_scripted"}
    )
    choice_fields: Mapping[str, Any] = field(default_factory=lambda: {"logprobs": None})
    role_on_every_chunk: bool = False  # every delta repeats "role": "assistant"
    finish_on_last_content: bool = False  # the last content chunk carries the finish_reason
    # A model that never stops by itself writes this many tokens when no limit it honours was
    # sent (None: on and on), then finishes with "length" — or, with `cut_at_context`, the
    # stream is cut there with no finish_reason and no [DONE].
    context_tokens: int | None = None
    cut_at_context: bool = False


OPENAI = Profile("openai")

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        OPENAI,
        # llama-cpp-python 0.3.x (llama_cpp/server/app.py): the request model has max_tokens
        # only, so max_completion_tokens is ignored (abetlen/llama-cpp-python#1907) and the
        # answer runs to the context's end; no usage in the stream; each chunk is json.dumps'd
        # (spaces, \uXXXX); sse-starlette sends ": ping - <time>" comments every 15 s. Since
        # 0.2.38 the server asks sse-starlette for LF line ends (#1188); older servers, and
        # sse-starlette's default, write CRLF — the harder one to read, kept here. Seen on a
        # small model: at the context's end the stream stopped with no finish_reason.
        Profile(
            "llama-cpp-python",
            limit_params=("max_tokens",),
            usage="never",
            compact_json=False,
            ascii_json=True,
            line_end="\r\n",
            ping_seconds=15.0,
            role_delta={"role": "assistant"},
            chunk_fields={},
            context_tokens=2048,
            cut_at_context=True,
        ),
        # Ollama's /v1 (openai/openai.go, middleware/openai.go): the request has max_tokens
        # only; every delta repeats the role, there is no role chunk of its own; the
        # finish_reason comes on the last chunk, whose delta is an empty content; the usage
        # chunk (no details) only when include_usage was asked, and no "usage": null before it;
        # Go's encoding/json (compact, HTML characters escaped); no limit by default
        # (num_predict -1, the context shifts), so a model that does not stop writes on.
        Profile(
            "ollama",
            limit_params=("max_tokens",),
            usage_null_on_chunks=False,
            usage_details=False,
            escape_html=True,
            content_type="text/event-stream",
            role_delta=None,
            finish_delta={"role": "assistant", "content": ""},
            chunk_fields={"system_fingerprint": "fp_ollama"},
            choice_fields={},
            role_on_every_chunk=True,
        ),
        # vLLM's OpenAI server (entrypoints/openai/serving_chat.py): honours
        # max_completion_tokens and max_tokens; the usage chunk only when include_usage was
        # asked; the finish_reason rides on the last content chunk (vllm-project/vllm#35705).
        Profile(
            "vllm",
            usage_details=False,
            role_delta={"role": "assistant", "content": ""},
            chunk_fields={},
            finish_on_last_content=True,
        ),
        # LM Studio (lmstudio.ai/docs, "Supported payload parameters"): max_tokens, not
        # max_completion_tokens; stream_options is not supported, so no usage in the stream
        # (lmstudio-ai/lmstudio-bug-tracker#713).
        Profile(
            "lm-studio",
            limit_params=("max_tokens",),
            usage="never",
            role_delta={"role": "assistant", "content": ""},
            chunk_fields={"system_fingerprint": "lm-studio"},
        ),
    )
}


def request_limit(profile: Profile, body: dict[str, Any]) -> int | None:
    """The cap on the answer that `profile`'s server reads from the request, if any."""
    for name in profile.limit_params:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


@dataclass(frozen=True)
class Plan:
    """What one answer will be: its tokens (None: endless), how it ends."""

    tokens: Sequence[str] | None
    finish_reason: str | None
    cut: bool = False  # the connection is cut after the tokens: no finish, no usage, no [DONE]

    def stream(self, script: Script) -> Iterator[str]:
        if self.tokens is None:
            return itertools.cycle(script.tokens)
        return iter(self.tokens)


def plan_answer(script: Script, body: dict[str, Any], profile: Profile = OPENAI) -> Plan:
    """The tokens and the ending of the answer to `body`, as `profile`'s server would write it."""
    limit = request_limit(profile, body) if script.honor_max_tokens else None
    if script.runaway:
        if limit is not None:
            return Plan(make_tokens(limit, script.tokens), "length")
        if profile.context_tokens is not None:
            tokens = make_tokens(profile.context_tokens, script.tokens)
            if profile.cut_at_context:
                return Plan(tokens, None, cut=True)
            return Plan(tokens, "length")
        return Plan(None, None)
    tokens = list(script.tokens)
    finish = script.finish_reason
    if limit is not None and limit < len(tokens):
        tokens = tokens[:limit]
        if finish is not None:
            finish = "length"
    return Plan(tokens, finish)


def limited_tokens(script: Script, body: dict[str, Any], profile: Profile = OPENAI) -> list[str]:
    """The script's tokens, cut to the request's max_(completion_)tokens if it honours them."""
    plan = plan_answer(script, body, profile)
    return list(plan.tokens) if plan.tokens is not None else list(script.tokens)


def error_for(script: Script, record: RecordedRequest, model: str) -> dict[str, Any]:
    """OpenAI's error body for the script's status (or the script's own)."""
    if script.error_body is not None:
        return script.error_body
    status = script.status
    etype, code, message = "invalid_request_error", None, "Bad request."
    if status == 401:
        # Harsher than OpenAI (which masks it): echo the whole key, so tests can prove that
        # nothing downstream repeats an upstream error message.
        key = record.headers.get("authorization", "").removeprefix("Bearer ")
        etype, code = "invalid_request_error", "invalid_api_key"
        message = f"Incorrect API key provided: {key}. You can find your API key in settings."
    elif status == 403:
        etype, code = "invalid_request_error", "unsupported_country_region_territory"
        message = "Country, region, or territory not supported."
    elif status == 404:
        etype, code = "invalid_request_error", "model_not_found"
        message = f"The model `{model}` does not exist or you do not have access to it."
    elif status == 429 and script.error_code == "insufficient_quota":
        etype, code = "insufficient_quota", "insufficient_quota"
        message = "You exceeded your current quota, please check your plan and billing details."
    elif status == 429:
        etype, code = "requests", "rate_limit_exceeded"
        message = (
            f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
            "Requested 1. Please try again in 20s."
        )
    elif status >= 500:
        etype, code = "server_error", None
        message = "The server had an error while processing your request. Sorry about that!"
    return error_body(
        script.error_message or message,
        script.error_type or etype,
        script.error_code if script.error_code is not None else code,
    )
