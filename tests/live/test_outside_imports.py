"""An import survives its server being killed: a real daphne takes an upload through the import
page, is killed with SIGKILL half-way through, and the next daphne finishes the job, each entry
once."""

from __future__ import annotations

import re
import time

import httpx2
import pytest

from tests.support.imports import day_one_journal
from tests.support.servers import PASSWORD, Server, wait_for

pytestmark = [pytest.mark.outside, pytest.mark.timeout(300)]

ENTRIES = 8000


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_an_import_cut_by_a_killed_server_is_finished_by_the_next_one_each_entry_once(tmp_path):
    server = Server(tmp_path)
    server.prepare()
    server.start()
    try:
        with httpx2.Client(base_url=server.base, timeout=60) as client:
            page = client.get("/accounts/login/")
            client.post(
                "/accounts/login/",
                data={
                    "login": "diarist",
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": csrf_of(page.text),
                },
            )
            page = client.get("/import/")
            sent = client.post(
                "/import/",
                data={"csrfmiddlewaretoken": csrf_of(page.text)},
                files={"file": ("Journal.json", day_one_journal(ENTRIES), "application/json")},
            )
            assert sent.status_code == 302, sent.text[:500]

        def half_way() -> bool:
            rows = server.query("SELECT status, processed, total FROM diaries_importjob")
            return bool(rows) and rows[0][0] == "running" and rows[0][1] >= 500

        wait_for(half_way, timeout=60)
        server.stop()  # SIGKILL: no shutdown hook runs
        [(status, processed, total)] = server.query(
            "SELECT status, processed, total FROM diaries_importjob"
        )
        assert status == "running" and 0 < processed < total == ENTRIES, (status, processed)
        cut_at = server.query("SELECT COUNT(*) FROM diaries_diaryentry")[0][0]
        assert 0 < cut_at < ENTRIES

        started = time.monotonic()
        server.start()  # a new process: it finds the job whose heartbeat stopped

        def done() -> bool:
            return server.query("SELECT status FROM diaries_importjob")[0][0] == "done"

        wait_for(done, timeout=180)
        resumed_in = time.monotonic() - started
    finally:
        server.stop()

    entries, distinct = server.query(
        "SELECT COUNT(*), COUNT(DISTINCT import_key) FROM diaries_diaryentry"
    )[0]
    assert entries == distinct == ENTRIES, (entries, distinct, cut_at)
    [(content,)] = server.query("SELECT content FROM diaries_importjob")
    assert not content  # the upload is not kept once the job has ended
    print(f"cut at {cut_at} of {ENTRIES} entries; finished {resumed_in:.0f} s after the restart")
