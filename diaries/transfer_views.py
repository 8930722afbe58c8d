"""Moving in and out: the import page and its job's status, and the exports, which stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from . import exports, selectors
from .exceptions import DiaryError
from .imports import jobs
from .imports.forms import ImportForm
from .models import ImportJob
from .services import accounts

JOBS_SHOWN = 10


@require_http_methods(["GET", "POST"])
@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    """Upload a file to import; the person's imports, the running ones watched live."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            jobs.import_job_create(user=request.user, file_name=upload.name, data=upload)
        except DiaryError as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(
                request, _("Your file is being imported. You can leave this page meanwhile.")
            )
            return redirect("diaries:import")
    return render(
        request,
        "diaries/import.html",
        {"form": form, "jobs": jobs.import_jobs_for_user(user=request.user)[:JOBS_SHOWN]},
    )


@require_GET
@login_required
def import_status(request: HttpRequest, pk: int) -> JsonResponse:
    """How far an import is, for its page to show (and a job no process runs taken up)."""
    job = get_object_or_404(jobs.import_jobs_for_user(user=request.user), pk=pk)
    jobs.import_job_resume_if_stale(job=job)
    return JsonResponse(import_job_data(job), headers={"Cache-Control": "no-store"})


def import_job_data(job: ImportJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "total": job.total,
        "processed": job.processed,
        "imported": job.imported,
        "skipped": job.skipped,
        "photos_skipped": job.photos_skipped,
        "error": job.error_message,
    }


# --- Export ---------------------------------------------------------------------------------


async def _encoded(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    # An asynchronous iterator: under ASGI, Django would read a synchronous one whole into
    # memory before sending it. Each page of entries is read in the thread the ORM needs.
    next_chunk = sync_to_async(next, thread_sensitive=True)
    while (chunk := await next_chunk(chunks, None)) is not None:
        yield chunk.encode()


def _download(chunks: Iterator[str], *, content_type: str, extension: str, request) -> HttpResponse:
    response = StreamingHttpResponse(_encoded(chunks), content_type=content_type)
    filename = f"nikki-{request.user.get_username()}-{timezone.localdate().isoformat()}.{extension}"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@login_required
def export_markdown(request: HttpRequest) -> HttpResponse:
    exported = selectors.entries_for_export(user=request.user)
    return _download(
        exports.entries_as_markdown_chunks(exported, user=request.user),
        content_type="text/markdown; charset=utf-8",
        extension="md",
        request=request,
    )


@require_GET
@login_required
def export_json(request: HttpRequest) -> HttpResponse:
    exported = selectors.entries_for_export(user=request.user)
    profile = accounts.profile_get(user=request.user)
    return _download(
        exports.entries_as_json_chunks(exported, user=request.user, profile=profile),
        content_type="application/json; charset=utf-8",
        extension="json",
        request=request,
    )
