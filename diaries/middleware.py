"""A signed-in person's own interface language and time zone, from their Profile."""

from __future__ import annotations

import zoneinfo

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.views.i18n import LANGUAGE_QUERY_PARAMETER

from .models import Profile
from .services.accounts import profile_set_ui_language


def _preferences(user) -> tuple[str, str]:
    if not user.is_authenticated:
        return "", ""
    row = Profile.objects.filter(user=user).values_list("ui_language", "time_zone").first()
    return row or ("", "")


def _activate(request: HttpRequest, language: str, zone: str) -> None:
    # After LocaleMiddleware (cookie, Accept-Language): a saved choice wins over the browser's.
    if language and language in dict(settings.LANGUAGES):
        translation.activate(language)
        request.LANGUAGE_CODE = language
    if zone:
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass  # a name this machine does not know: the site's time zone


def _switched_language(request: HttpRequest, response: HttpResponse) -> str | None:
    """The language a signed-in person just chose with Django's set_language view, if any."""
    match = getattr(request, "resolver_match", None)
    if request.method != "POST" or match is None or match.url_name != "set_language":
        return None
    if response.status_code >= 400:
        return None
    language = request.POST.get(LANGUAGE_QUERY_PARAMETER, "")
    return language if language in dict(settings.LANGUAGES) else None


class UserPreferencesMiddleware:
    """Activates the Profile's interface language and time zone for a signed-in person, and
    remembers the language they pick with the language switcher on their Profile.

    Goes right after AuthenticationMiddleware (it needs `request.user`).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        _activate(request, *_preferences(request.user))
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        language = _switched_language(request, response)
        if language and request.user.is_authenticated:
            profile_set_ui_language(user=request.user, language=language)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        user = await request.auser()
        if user.is_authenticated:
            _activate(request, *await sync_to_async(_preferences)(user))
        try:
            response = await self.get_response(request)
        finally:
            timezone.deactivate()
        language = _switched_language(request, response)
        if language and user.is_authenticated:
            await sync_to_async(profile_set_ui_language)(user=user, language=language)
        return response
