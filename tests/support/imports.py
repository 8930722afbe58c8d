"""Files to import: Day One exports written from Day One's documented format (a zip of
`Journal.json` and `photos/<md5>.jpeg`), and larger generated diaries for the bench."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

DAY_ONE_JOURNAL = Path(__file__).parent / "dayone" / "Journal.json"
# The smallest JPEG there is (one grey pixel): what a photo of Day One's zip holds here.
TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c"
    "1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0"
    "000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bff"
    "da0008010100003f00d2cf20ffd9"
)


def day_one_zip(journal: bytes | None = None) -> bytes:
    """Day One's export: Journal.json and its photos, as the app zips them."""
    journal = DAY_ONE_JOURNAL.read_bytes() if journal is None else journal
    data = json.loads(journal)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Journal.json", journal)
        for entry in data["entries"]:
            for photo in entry.get("photos", []):
                archive.writestr(f"photos/{photo['md5']}.{photo['type']}", TINY_JPEG)
    return buffer.getvalue()


def day_one_journal(count: int, *, words: int = 120) -> bytes:
    """A Day One JSON export of `count` daily entries (about `words` words each)."""
    start = dt.datetime(2011, 1, 1, 21, 0, tzinfo=dt.UTC)
    sentence = "Walked by the river after work and thought about the week ahead. "
    text = (sentence * (words // 12 + 1)).strip()
    entries = [
        {
            "uuid": f"{n:032X}",
            "creationDate": (start + dt.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timeZone": "Asia/Tokyo",
            "starred": n % 7 == 0,
            "tags": ["daily"] if n % 3 == 0 else [],
            "text": f"Day {n}. {text}",
        }
        for n in range(count)
    ]
    return json.dumps({"metadata": {"version": "1.0"}, "entries": entries}).encode()
