"""The writer the settings ask for: the Django side of `writers/`, which knows nothing of Django."""

from __future__ import annotations

from django.conf import settings

from .writers import Writer


def writer_from_settings() -> Writer:
    """The writer the settings ask for: OpenAI (or a compatible server) or the offline writer."""
    choice = settings.DIARY_WRITER
    use_openai = choice == "openai" or (
        choice == "auto" and bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)
    )
    if use_openai:
        from .writers.openai import OpenAIWriter

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
    from .writers.offline import OfflineWriter

    return OfflineWriter(delay=settings.DIARY_OFFLINE_DELAY)
