"""Language-model back ends. `writer_from_settings()` picks one from Django settings."""

from __future__ import annotations

from .base import Finish, Usage, Writer, WriterError, WriterRequest

__all__ = ["Finish", "Usage", "Writer", "WriterError", "WriterRequest", "writer_from_settings"]


def writer_from_settings() -> Writer:
    """The writer the settings ask for: OpenAI (or a compatible server) or the offline writer."""
    from django.conf import settings

    choice = settings.DIARY_WRITER
    use_openai = choice == "openai" or (
        choice == "auto" and bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)
    )
    if use_openai:
        from .openai import OpenAIWriter

        return OpenAIWriter.from_config(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL or None,
            model=settings.OPENAI_MODEL,
            timeout=settings.OPENAI_TIMEOUT,
            connect_timeout=settings.OPENAI_CONNECT_TIMEOUT,
            max_retries=settings.OPENAI_MAX_RETRIES,
            max_tokens_param=settings.OPENAI_MAX_TOKENS_PARAM,
            temperature=settings.DIARY_TEMPERATURE,
            http=settings.OPENAI_HTTP_CLIENT,
        )
    from .offline import OfflineWriter

    return OfflineWriter(delay=settings.DIARY_OFFLINE_DELAY)
