"""An upload imported off the request, in a job that survives a reload and a server restart.

The upload's text is kept sealed in its `ImportJob` row until the job ends. A job runs in a
thread of the server process that took the upload; it commits a batch of entries at a time with
its counts and a heartbeat, so the page (which polls the job's status) shows the progress.
If the server stops meanwhile, the job is taken up again where it stopped — entries already
written are skipped by their fingerprints — by whichever comes first: a server starting (daphne
checks for waiting jobs every few seconds, `start_with_server`), the page asking for the status
of a job whose heartbeat is stale, or `manage.py run_imports`. Taking a job up is one conditional
update, so two processes never run the same job.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading

from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from keystore.fields import seal

from ..exceptions import DiaryError
from ..models import ImportJob, ImportStatus, Profile
from . import formats
from .service import ImportResult, entries_import

logger = logging.getLogger(__name__)

# A running job whose heartbeat is older than this lost its process (a batch takes < 1 s).
STALE_AFTER = dt.timedelta(seconds=30)
# How often a server looks for jobs to take up.
POLL_SECONDS = 10.0


def import_jobs_for_user(*, user):
    """The person's imports, newest first."""
    return ImportJob.objects.filter(owner=user).defer("content")


def import_job_create(*, user, file_name: str, data: bytes) -> ImportJob:
    """Keep an upload (sealed) as a waiting job and start it once the row is committed. An
    unreadable file (not text, a broken zip) is refused at once."""
    upload = formats.upload_read(file_name, data)
    job = ImportJob.objects.create(
        owner=user,
        file_name=file_name[:255],
        content=upload.as_json(),
        photos_skipped=upload.photos,
    )
    transaction.on_commit(lambda: spawn(job.pk))
    return job


def spawn(job_id: int) -> None:
    """Run the job in a thread of this process (a daemon: a stopping server does not wait)."""
    threading.Thread(target=_run_in_thread, args=(job_id,), daemon=True).start()


def _run_in_thread(job_id: int) -> None:
    try:
        import_job_run(job_id=job_id)
    except Exception:
        logger.exception("import job %s failed", job_id)
    finally:
        close_old_connections()


def _claim(job_id: int) -> bool:
    now = timezone.now()
    takeable = Q(status=ImportStatus.QUEUED) | Q(
        status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    claimed = (
        ImportJob.objects.filter(takeable, pk=job_id).update(
            status=ImportStatus.RUNNING, heartbeat_at=now
        )
        == 1
    )
    return claimed


def import_job_run(*, job_id: int) -> bool:
    """Take the job if it is waiting or its process died, and import it; False if another
    process has it or it is finished."""
    if not _claim(job_id):
        return False
    job = ImportJob.objects.select_related("owner").get(pk=job_id)
    try:
        upload = formats.Upload.from_json(job.content)
        language = (
            Profile.objects.filter(user=job.owner)
            .values_list("default_language", flat=True)
            .first()
        )
        parsed = formats.upload_parse(upload, language=language or "en")
    except DiaryError as exc:
        _finish(job, status=ImportStatus.FAILED, error=exc.message)
        return True
    ImportJob.objects.filter(pk=job.pk).update(total=len(parsed.entries))

    def progress(result: ImportResult) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            processed=result.processed,
            imported=job.imported + result.imported,
            heartbeat_at=timezone.now(),
        )

    try:
        result = entries_import(
            user=job.owner, parsed=parsed, progress=progress, one_transaction=False
        )
    except Exception as exc:
        logger.exception("import job %s stopped", job.pk)
        _finish(
            job,
            status=ImportStatus.FAILED,
            error=_(
                "The import stopped (%(error)s). The entries imported so far are kept; "
                "importing the same file again adds the rest."
            )
            % {"error": type(exc).__name__},
        )
        return True
    # `imported` counts this run and any run before it that a restart interrupted.
    job.refresh_from_db(fields=["imported"])
    _finish(job, status=ImportStatus.DONE, skipped=result.total - job.imported)
    return True


def _finish(job: ImportJob, *, status: str, error: str = "", skipped: int | None = None) -> None:
    fields = {
        "status": status,
        "error_message": seal(job.owner_id, error),
        "finished_at": timezone.now(),
    }
    if skipped is not None:
        fields["skipped"] = skipped
    # The upload goes as the job ends, whatever the end.
    ImportJob.objects.filter(pk=job.pk).update(content="", **fields)


def import_jobs_resume() -> int:
    """Run, in this thread, every job waiting or left running by a process that stopped."""
    now = timezone.now()
    pending = ImportJob.objects.filter(
        Q(status=ImportStatus.QUEUED)
        | Q(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    ).values_list("pk", flat=True)
    return sum(import_job_run(job_id=pk) for pk in list(pending))


def import_job_resume_if_stale(*, job: ImportJob) -> None:
    """The page asked about a job no process is running (still waiting a while after its
    upload, or its heartbeat stale): take it up here."""
    now = timezone.now()
    waiting = job.status == ImportStatus.QUEUED and job.created_at < now - dt.timedelta(seconds=5)
    stale = job.status == ImportStatus.RUNNING and job.heartbeat_at < now - STALE_AFTER
    if waiting or stale:
        spawn(job.pk)


def start_with_server() -> None:
    """Under daphne, look for jobs to take up as the server starts, then every POLL_SECONDS."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                import_jobs_resume()
            except Exception as exc:
                logger.warning("import jobs: %s", type(exc).__name__)
            finally:
                close_old_connections()
            stop.wait(POLL_SECONDS)

    def start() -> None:
        threading.Thread(target=loop, name="diary-imports", daemon=True).start()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop.set)
