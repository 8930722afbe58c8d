"""Language-model back ends; no Django here (diaries/writer_settings.py picks one from settings)."""

from __future__ import annotations

from .base import Finish, Usage, Writer, WriterError, WriterRequest

__all__ = ["Finish", "Usage", "Writer", "WriterError", "WriterRequest"]
