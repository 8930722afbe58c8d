"""Reading an uploaded file into entries to import: Nikki's own JSON export, Day One's JSON
export (the zip with `Journal.json` and `photos/`, or the bare JSON), and Markdown or text files
with a date in the file name or on the first line. The format is told from the content.

Nothing here touches the database: a file is read whole and checked before anything is written,
so a bad file is refused with a message naming the entry or line, and nothing is half-imported.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
import zoneinfo
from dataclasses import dataclass, field
from typing import IO, Any

from django.utils.translation import gettext as _

from ..exceptions import DiaryError
from ..models import EntrySource, EntryStatus, GenerationStatus, Language, Tone

# The text read from one upload (a zip's photos are not read, only counted).
MAX_TEXT_BYTES = 64 * 1024 * 1024
PHOTO = "[photo]"


class ImportFileError(DiaryError):
    """A file that cannot be imported; the message names the entry or line at fault."""


@dataclass
class Document:
    """One text file of an upload."""

    name: str
    text: str


@dataclass
class Upload:
    documents: list[Document]
    photos: int = 0  # photos found in a zip, not imported

    def as_json(self) -> str:
        return json.dumps(
            {"documents": [[d.name, d.text] for d in self.documents], "photos": self.photos},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, stored: str) -> Upload:
        data = json.loads(stored)
        return cls([Document(n, t) for n, t in data["documents"]], data["photos"])


@dataclass
class ImportedEntry:
    label: str  # names it in a message: "entry 12 (2020-01-03)", "notes.md line 4"
    key: str  # what identifies it in its source; keyed per owner before it is stored
    date: dt.date
    text: str = ""
    morning: str = ""
    afternoon: str = ""
    evening: str = ""
    notes: str = ""
    tone: str = Tone.PLAIN
    language: str = Language.ENGLISH
    status: str = EntryStatus.EDITED
    writer: str = "owner"
    model_name: str = ""
    source: str = EntrySource.TEXT
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    generations: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Parsed:
    source: str
    entries: list[ImportedEntry]
    settings: dict[str, Any] | None = None
    photos_skipped: int = 0


def upload_read(name: str, data: bytes | IO[bytes]) -> Upload:
    """The text files of an upload (bytes, or a file open for reading): the file itself, or
    every JSON, Markdown or text file of a zip (photos and other files counted, not read)."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    head = stream.read(4)
    stream.seek(0)
    if head != b"PK\x03\x04":
        return Upload([Document(name, _decode(name, stream.read(MAX_TEXT_BYTES + 1)))])
    try:
        archive = zipfile.ZipFile(stream)
        members = archive.infolist()
    except zipfile.BadZipFile:
        raise ImportFileError(_("%(name)s is not a readable zip file.") % {"name": name}) from None
    documents, photos, size = [], 0, 0
    for info in members:
        if info.is_dir() or "__MACOSX" in info.filename:
            continue
        if info.filename.lower().endswith((".json", ".md", ".markdown", ".txt")):
            size += info.file_size
            if size > MAX_TEXT_BYTES:
                raise ImportFileError(_("The files in %(name)s are too large.") % {"name": name})
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError):
                raise ImportFileError(
                    _("%(name)s: %(member)s cannot be read from the zip.")
                    % {"name": name, "member": info.filename}
                ) from None
            documents.append(Document(info.filename, _decode(info.filename, content)))
        else:
            photos += 1
    if not documents:
        raise ImportFileError(_("%(name)s holds no JSON, Markdown or text file.") % {"name": name})
    documents.sort(key=lambda d: d.name)
    return Upload(documents, photos)


def _decode(name: str, data: bytes) -> str:
    if len(data) > MAX_TEXT_BYTES:
        raise ImportFileError(_("%(name)s is too large.") % {"name": name})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFileError(
            _("%(name)s line %(line)d is not UTF-8 text.") % {"name": name, "line": line}
        ) from None


def upload_parse(upload: Upload, *, language: str = Language.ENGLISH) -> Parsed:
    """Every entry of the upload, checked; the format told from the content."""
    parsed: Parsed | None = None
    for document in upload.documents:
        one = _parse_document(document, language=language)
        if parsed is None:
            parsed = one
        elif parsed.source != one.source:
            raise ImportFileError(
                _("%(name)s is not in the same format as the other files.")
                % {"name": document.name}
            )
        else:
            parsed.entries += one.entries
    assert parsed is not None
    parsed.photos_skipped = upload.photos
    return parsed


def _parse_document(document: Document, *, language: str) -> Parsed:
    stripped = document.text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(document.text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(
                _("%(name)s is not valid JSON (line %(line)d, column %(column)d).")
                % {"name": document.name, "line": exc.lineno, "column": exc.colno}
            ) from None
        if isinstance(data, dict) and data.get("format") == "nikki-export":
            return nikki_parse(data, name=document.name)
        if isinstance(data, dict) and isinstance(data.get("entries"), list):
            return day_one_parse(data, name=document.name, language=language)
        raise ImportFileError(
            _("%(name)s is JSON, but neither a Nikki export nor a Day One export.")
            % {"name": document.name}
        )
    return text_parse(document, language=language)


# --- Nikki's own export (diaries/exports.py) -----------------------------------------------------


def nikki_parse(data: dict[str, Any], *, name: str) -> Parsed:
    if data.get("version") != 1:
        raise ImportFileError(
            _("%(name)s is a Nikki export of a version this server cannot read.") % {"name": name}
        )
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise ImportFileError(_("%(name)s has no list of entries.") % {"name": name})
    parsed = [_nikki_entry(raw, index) for index, raw in enumerate(entries, 1)]
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    settings = user.get("settings")
    return Parsed(
        EntrySource.NIKKI_EXPORT,
        parsed,
        _nikki_settings(settings) if isinstance(settings, dict) else None,
    )


SETTINGS_CHOICES = {
    "ui_language": ["", *Language.values],
    "default_language": ["", *Language.values],
    "default_tone": Tone.values,
}


def _nikki_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """The profile's settings as the export has them, each checked (a wrong one named)."""
    label = _("the settings")
    settings: dict[str, Any] = {}
    for name, allowed in SETTINGS_CHOICES.items():
        if name in raw:
            settings[name] = _choice(raw[name], allowed, label, name)
    if "time_zone" in raw:
        zone = _text(raw, "time_zone", label)
        if zone:
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ImportFileError(
                    _("%(entry)s: time_zone is not a known time zone.") % {"entry": label}
                ) from None
        settings["time_zone"] = zone
    if "display_name" in raw:
        settings["display_name"] = _short(raw, "display_name", 80, label)
    if "keep_names_from_model" in raw:
        settings["keep_names_from_model"] = bool(raw["keep_names_from_model"])
    names = raw.get("names_kept_from_model")
    if isinstance(names, list):
        settings["private_names"] = "\n".join(str(name) for name in names)
    return settings


def nikki_identity(entry_id: Any, created_at: Any, date: str) -> str:
    """What identifies an entry in a Nikki export: an export of the same account has the same,
    so importing one's own export (or one made after a restore) adds nothing twice."""
    return f"nikki\0{entry_id}\0{created_at}\0{date}"


def _nikki_entry(raw: Any, index: int) -> ImportedEntry:
    label = _("entry %(number)d") % {"number": index}
    if not isinstance(raw, dict):
        raise ImportFileError(_("%(entry)s is not an object.") % {"entry": label})
    day = _date(raw.get("date"), label)
    label = f"{label} ({day.isoformat()})"
    status = _choice(raw.get("status", EntryStatus.DRAFT), EntryStatus.values, label, "status")
    if status == EntryStatus.GENERATING:
        status = EntryStatus.INTERRUPTED
    generations = [
        _nikki_generation(g, label, n) for n, g in enumerate(_list(raw, "generations", label), 1)
    ]
    edits = [
        {
            "text": _text(e, "text", label),
            "previous_text": _text(e, "previous_text", label),
            "created_at": _datetime(e.get("created_at"), label),
        }
        for e in _list(raw, "edits", label)
    ]
    created = _datetime(raw.get("created_at"), label)
    return ImportedEntry(
        label=label,
        key=nikki_identity(raw.get("id"), raw.get("created_at"), day.isoformat()),
        date=day,
        text=_text(raw, "text", label),
        morning=_text(raw, "morning", label),
        afternoon=_text(raw, "afternoon", label),
        evening=_text(raw, "evening", label),
        notes=_text(raw, "notes", label),
        tone=_choice(raw.get("tone", Tone.PLAIN), Tone.values, label, "tone"),
        language=_choice(raw.get("language", Language.ENGLISH), Language.values, label, "language"),
        status=status,
        writer=_short(raw, "writer", 40, label),
        model_name=_short(raw, "model", 120, label),
        # An entry imported from elsewhere and exported stays marked with where it came from.
        source=_choice(raw.get("source", ""), EntrySource.values, label, "source")
        or EntrySource.NIKKI_EXPORT,
        created_at=created,
        updated_at=_datetime(raw.get("updated_at"), label) or created,
        generations=generations,
        edits=edits,
    )


def _nikki_generation(raw: Any, label: str, number: int) -> dict[str, Any]:
    where = _("%(entry)s, generation %(number)d") % {"entry": label, "number": number}
    if not isinstance(raw, dict):
        raise ImportFileError(_("%(entry)s is not an object.") % {"entry": where})
    status = _choice(raw.get("status"), GenerationStatus.values, where, "status")
    if status == GenerationStatus.GENERATING:
        status = GenerationStatus.INTERRUPTED
    usage = raw.get("usage") or {}
    started = _datetime(raw.get("started_at"), where)
    return {
        "status": status,
        "text": _text(raw, "text", where),
        "writer": _short(raw, "writer", 40, where),
        "model_name": _short(raw, "model", 120, where),
        "tone": _choice(raw.get("tone", Tone.PLAIN), Tone.values, where, "tone"),
        "language": _choice(raw.get("language", "en"), Language.values, where, "language"),
        "error_code": _short(raw, "error_code", 40, where),
        "error_message": _text(raw, "error_message", where),
        "finish_reason": _short(raw, "finish_reason", 40, where),
        "prompt_tokens": _count(usage.get("prompt_tokens"), where),
        "completion_tokens": _count(usage.get("completion_tokens"), where),
        "total_tokens": _count(usage.get("total_tokens"), where),
        "time_to_first_token_ms": _count(raw.get("time_to_first_token_ms"), where),
        "duration_ms": _count(raw.get("duration_ms"), where),
        **({"started_at": started, "heartbeat_at": started} if started else {}),
        "finished_at": _datetime(raw.get("finished_at"), where),
    }


def _list(raw: dict, key: str, label: str) -> list:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ImportFileError(
            _("%(entry)s: %(field)s is not a list.") % {"entry": label, "field": key}
        )
    return value


def _text(raw: dict, key: str, label: str) -> str:
    value = raw.get(key) or ""
    if not isinstance(value, str):
        raise ImportFileError(
            _("%(entry)s: %(field)s is not text.") % {"entry": label, "field": key}
        )
    return value


def _short(raw: dict, key: str, limit: int, label: str) -> str:
    value = _text(raw, key, label)
    if len(value) > limit:
        raise ImportFileError(
            _("%(entry)s: %(field)s is longer than %(limit)d characters.")
            % {"entry": label, "field": key, "limit": limit}
        )
    return value


def _choice(value: Any, allowed: list[str], label: str, key: str) -> str:
    if value not in allowed:
        raise ImportFileError(
            _("%(entry)s: %(field)s is not one of %(allowed)s.")
            % {"entry": label, "field": key, "allowed": ", ".join(v or '""' for v in allowed)}
        )
    return value


def _count(value: Any, label: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ImportFileError(_("%(entry)s: a count is not a whole number.") % {"entry": label})
    return value


def _date(value: Any, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ImportFileError(
            _("%(entry)s has no date in the form 2024-05-01.") % {"entry": label}
        ) from None


def _datetime(value: Any, label: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ImportFileError(
            _("%(entry)s has a time that is not in ISO 8601 form.") % {"entry": label}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- Day One (https://dayoneapp.com/guides/settings/exporting-entries/, "JSON") ----------------

# A photo in Day One's text: ![](dayone-moment://<identifier>), sometimes with a caption.
DAY_ONE_MOMENT = re.compile(r"!\[[^\]]*\]\(dayone-moment:/*[^)]*\)")
KANA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def day_one_parse(data: dict[str, Any], *, name: str, language: str) -> Parsed:
    parsed = []
    for index, raw in enumerate(data["entries"], 1):
        label = _("%(file)s entry %(number)d") % {"file": name, "number": index}
        if not isinstance(raw, dict):
            raise ImportFileError(_("%(entry)s is not an object.") % {"entry": label})
        created = _datetime(raw.get("creationDate"), label)
        if created is None:
            raise ImportFileError(_("%(entry)s has no creationDate.") % {"entry": label})
        try:
            zone = zoneinfo.ZoneInfo(raw.get("timeZone") or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise ImportFileError(
                _("%(entry)s has an unknown timeZone.") % {"entry": label}
            ) from None
        day = created.astimezone(zone).date()
        label = f"{label} ({day.isoformat()})"
        text = _text(raw, "text", label)
        tags = raw.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ImportFileError(_("%(entry)s: tags is not a list of words.") % {"entry": label})
        notes = []
        if tags:
            notes.append(_("Day One tags: %(tags)s") % {"tags": ", ".join(tags)})
        if raw.get("starred"):
            notes.append(_("Starred in Day One."))
        identity = raw.get("uuid") or f"{raw.get('creationDate')}\0{text}"
        parsed.append(
            ImportedEntry(
                label=label,
                key=f"dayone\0{identity}",
                date=day,
                text=DAY_ONE_MOMENT.sub(PHOTO, text).strip(),
                notes="\n".join(notes),
                language=Language.JAPANESE if KANA.search(text) else language,
                source=EntrySource.DAY_ONE,
                created_at=created,
                updated_at=_datetime(raw.get("modifiedDate"), label) or created,
            )
        )
    return Parsed(EntrySource.DAY_ONE, parsed)


# --- Markdown and text ---------------------------------------------------------------------------

DATE = r"(\d{4})[-/._年]\s*(\d{1,2})[-/._月]\s*(\d{1,2})日?"
NAME_DATE = re.compile(r"(?<!\d)(\d{4})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)")
LINE_DATE = re.compile(rf"^\s*(?:#+\s*)?{DATE}\s*$")


def text_parse(document: Document, *, language: str) -> Parsed:
    """A file of entries under date headings ("## 2024-05-01", one or many), or one entry dated
    by its file name or first line."""
    lines = document.text.splitlines()
    headings = [n for n, line in enumerate(lines) if LINE_DATE.match(line)]
    sections: list[tuple[dt.date, int, list[str]]] = []
    if headings:
        if any(line.strip() for line in lines[: headings[0]]):
            name_day = _name_date(document.name)
            if name_day is None:
                raise ImportFileError(
                    _("%(name)s line 1: text before the first date, and no date in the file name.")
                    % {"name": document.name}
                )
            sections.append((name_day, 1, lines[: headings[0]]))
        for start, end in zip(headings, [*headings[1:], len(lines)], strict=True):
            day = _line_date(lines[start], document.name, start + 1)
            sections.append((day, start + 1, lines[start + 1 : end]))
    else:
        day = _name_date(document.name)
        if day is None:
            raise ImportFileError(
                _("%(name)s line 1: no date in the file name or on the first line.")
                % {"name": document.name}
            )
        sections.append((day, 1, lines))
    parsed = []
    for day, line, body in sections:
        text = "\n".join(body).strip()
        if not text:
            continue
        parsed.append(
            ImportedEntry(
                label=_("%(name)s line %(line)d") % {"name": document.name, "line": line},
                key=f"text\0{day.isoformat()}\0{text}",
                date=day,
                text=text,
                language=Language.JAPANESE if KANA.search(text) else language,
                source=EntrySource.TEXT,
            )
        )
    return Parsed(EntrySource.TEXT, parsed)


def _name_date(name: str) -> dt.date | None:
    match = NAME_DATE.search(name.rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _line_date(line: str, name: str, number: int) -> dt.date:
    match = LINE_DATE.match(line)
    assert match is not None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ImportFileError(
            _("%(name)s line %(line)d: that date does not exist.") % {"name": name, "line": number}
        ) from None
