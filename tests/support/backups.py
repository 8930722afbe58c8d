"""Backups of a test database as an operator takes them: SQLite's online backup of the file,
PostgreSQL's pg_dump; and restoring one over the database, and its raw bytes on disk."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

from django.db import connections


def _pg_args(settings: dict) -> tuple[list[str], dict[str, str]]:
    args = ["-h", settings["HOST"] or "127.0.0.1", "-p", str(settings["PORT"] or 5432)]
    if settings["USER"]:
        args += ["-U", settings["USER"]]
    env = {**os.environ}
    if settings["PASSWORD"]:
        env["PGPASSWORD"] = settings["PASSWORD"]
    return args, env


def backup(alias: str = "default") -> bytes:
    """A consistent backup of the database `alias` (a SQLite file's bytes, or pg_dump's custom
    format)."""
    connection = connections[alias]
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "backup.sqlite3"
            with closing(sqlite3.connect(settings["NAME"])) as source:
                with closing(sqlite3.connect(copy)) as target:
                    source.backup(target)
            return copy.read_bytes()
    args, env = _pg_args(settings)
    return subprocess.run(
        ["pg_dump", "-Fc", *args, settings["NAME"]], env=env, check=True, capture_output=True
    ).stdout


def restore(dump: bytes, alias: str = "default") -> None:
    """Put a backup from `backup()` back over the database `alias`."""
    connection = connections[alias]
    settings = connection.settings_dict
    connection.close()
    if connection.vendor == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "backup.sqlite3"
            copy.write_bytes(dump)
            with closing(sqlite3.connect(copy)) as source:
                with closing(sqlite3.connect(settings["NAME"])) as target:
                    source.backup(target)
        return
    args, env = _pg_args(settings)
    subprocess.run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            *args,
            "-d",
            settings["NAME"],
        ],
        input=dump,
        env=env,
        check=True,
        capture_output=True,
    )


def raw_bytes(alias: str = "default") -> bytes:
    """Everything the database `alias` keeps on disk, as an attacker with the files would read
    it: SQLite's file with its write-ahead log, or a plain-SQL pg_dump of PostgreSQL."""
    connection = connections[alias]
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        name = Path(settings["NAME"])
        files = [name, Path(f"{name}-wal"), Path(f"{name}-journal")]
        return b"".join(path.read_bytes() for path in files if path.exists())
    args, env = _pg_args(settings)
    return subprocess.run(
        ["pg_dump", *args, settings["NAME"]], env=env, check=True, capture_output=True
    ).stdout
