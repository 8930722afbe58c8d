"""The pages for everyone, signed in or not: the front page (a short landing page for a
visitor, the diary for its owner) and what the site does with a person's words."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import views
from .services.checks import checker_from_settings
from .writer_settings import writer_from_settings


@require_GET
def front(request: HttpRequest) -> HttpResponse:
    """`/`: today and recent entries for a signed-in person; what Nikki is for a visitor."""
    if request.user.is_authenticated:
        return views.home(request)
    return render(request, "diaries/landing.html", {"writer": writer_from_settings()})


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """Who can read a diary, what leaves the server, where it is kept, what is encrypted:
    said from this site's own settings (its writer and its automatic check)."""
    writer = writer_from_settings()
    base_url = settings.OPENAI_BASE_URL
    return render(
        request,
        "diaries/privacy.html",
        {
            "writer": writer,
            "writer_is_local": getattr(writer, "local", False),
            "model_host": urlsplit(base_url).hostname if base_url else "",
            "checker_is_remote": checker_from_settings().name == "openai",
            "staff_need_two_factors": settings.DIARY_MFA_REQUIRED_FOR_STAFF,
        },
    )
