"""Staff and moderators add a second factor before anything else (DIARY_MFA_REQUIRED_FOR_STAFF).

A staff member, superuser or moderator without an authenticator app or passkey is sent to set
one up; only the two-factor pages, signing out, re-authenticating and the language switch stay
open. The admin is covered too: its login goes through allauth (secure_admin_login in
diary_project/urls.py), and every admin page is behind this.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _

from .selectors import user_needs_second_factor

# Pages a person who must add a second factor can still reach.
OPEN_URL_NAMES = frozenset(
    {
        "account_logout",
        "account_reauthenticate",
        "set_language",
        "healthz",
        "javascript-catalog",
    }
)


def _open(request: HttpRequest) -> bool:
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return True  # a 404 reveals nothing
    return match.url_name in OPEN_URL_NAMES or (match.url_name or "").startswith("mfa_")


def _to_setup(request: HttpRequest) -> HttpResponse:
    messages.warning(
        request,
        _(
            "Staff and moderators sign in with two factors. Set up an authenticator app "
            "(or add a passkey) to continue."
        ),
    )
    return HttpResponseRedirect(reverse("mfa_activate_totp"))


class MfaRequiredMiddleware:
    """Sends staff and moderators without an authenticator to set one up.

    Goes after AuthenticationMiddleware and MessageMiddleware."""

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
        if not _open(request) and user_needs_second_factor(user=request.user):
            return _to_setup(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if settings.DIARY_MFA_REQUIRED_FOR_STAFF and not _open(request):
            user = await request.auser()
            if await sync_to_async(user_needs_second_factor)(user=user):
                return _to_setup(request)
        return await self.get_response(request)
