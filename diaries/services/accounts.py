"""A person's account: settings, deleting it, and what moderators do to it (deactivate,
reactivate, a daily limit of their own)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from ..exceptions import DiaryError
from ..models import Generation, ModerationAction, ModerationEvent, Profile
from . import generations
from .moderation import moderation_event_record


def profile_get(*, user) -> Profile:
    profile, _created = Profile.objects.get_or_create(user=user)
    return profile


def profile_update(
    *,
    user,
    display_name: str,
    ui_language: str,
    default_language: str,
    default_tone: str,
    time_zone: str,
    keep_names_from_model: bool,
    private_names: str,
) -> Profile:
    """Save a person's settings (the form has validated them)."""
    profile = profile_get(user=user)
    profile.display_name = display_name
    profile.ui_language = ui_language
    profile.default_language = default_language
    profile.default_tone = default_tone
    profile.time_zone = time_zone
    profile.keep_names_from_model = keep_names_from_model
    profile.private_names = private_names
    profile.save(
        update_fields=[
            "display_name",
            "ui_language",
            "default_language",
            "default_tone",
            "time_zone",
            "keep_names_from_model",
            "private_names",
        ]
    )
    return profile


def profile_set_ui_language(*, user, language: str) -> None:
    """Remember the interface language a signed-in person picked with the language switcher."""
    Profile.objects.update_or_create(user=user, defaults={"ui_language": language})


def account_delete(*, user, wait: float = 2.0) -> None:
    """Delete a person's account with everything of theirs: entries, versions, profile.

    Running generations are stopped first and given `wait` seconds to save their end, so that
    no writer outlives the rows it writes to.
    """
    if generations.user_sockets_and_generations_stop(user=user, reason="account_deleted"):
        generations.generations_wait(Generation.objects.filter(entry__owner=user), wait)
    user.delete()


def _refuse_to_moderate_account(*, actor, user) -> None:
    if user.pk == actor.pk:
        raise DiaryError(_("You cannot do this to your own account."))
    if (user.is_superuser or user.is_staff) and not actor.is_superuser:
        raise DiaryError(_("Only a superuser can do this to a staff account."))


def user_deactivate(*, actor, user, reason: str = "") -> int:
    """Deactivate an account: its open sockets close at once and its running generations stop
    (their text is saved). Returns how many generations were stopped."""
    _refuse_to_moderate_account(actor=actor, user=user)
    with transaction.atomic():
        changed = (
            get_user_model().objects.filter(pk=user.pk, is_active=True).update(is_active=False)
        )
        if not changed:
            raise DiaryError(_("The account was already inactive."))
        user.is_active = False
        event = moderation_event_record(
            action=ModerationAction.USER_DEACTIVATED,
            actor=actor,
            subject=user,
            reason=reason.strip(),
        )
    stopped = generations.user_sockets_and_generations_stop(user=user, reason="deactivated")
    if stopped:
        event.details["generations_stopped"] = stopped
        ModerationEvent.objects.filter(pk=event.pk).update(details=event.details)
    return stopped


@transaction.atomic
def user_reactivate(*, actor, user, reason: str = "") -> None:
    """Let a deactivated account sign in again."""
    _refuse_to_moderate_account(actor=actor, user=user)
    if not get_user_model().objects.filter(pk=user.pk, is_active=False).update(is_active=True):
        raise DiaryError(_("The account was already active."))
    user.is_active = True
    moderation_event_record(
        action=ModerationAction.USER_REACTIVATED, actor=actor, subject=user, reason=reason.strip()
    )


@transaction.atomic
def user_set_daily_limit(*, actor, user, limit: int | None, reason: str = "") -> Profile:
    """Set (or, with None, remove) a person's own daily generation limit."""
    if limit is not None and limit < 0:
        raise DiaryError(_("A limit cannot be negative."))
    profile, _created = Profile.objects.select_for_update().get_or_create(user=user)
    previous = profile.daily_generation_limit
    if previous == limit:
        return profile
    profile.daily_generation_limit = limit
    profile.save(update_fields=["daily_generation_limit"])
    moderation_event_record(
        action=ModerationAction.LIMIT_CHANGED,
        actor=actor,
        subject=user,
        reason=reason.strip(),
        details={"from": previous, "to": limit, "default": settings.DIARY_DAILY_GENERATIONS},
    )
    return profile
