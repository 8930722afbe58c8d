"""Thin receivers: Django's auth events close the sockets they make stale; a deleted account's
data key is destroyed."""

from __future__ import annotations

from allauth.account.signals import password_changed, password_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from keystore.signals import server_keys_rotated
from keystore.store import data_key_destroy

from . import realtime
from .mfa_adapter import authenticator_secrets_rotate
from .services.generations import user_sockets_and_generations_stop


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        realtime.sockets_close_for_session(session_key=key, reason="signed_out")


@receiver(password_changed)
def close_sockets_on_password_change(sender, request, user, **kwargs) -> None:
    # Every session of the user is stale now (other sessions are signed out by Django's
    # session hash check on their next request); their sockets close at once.
    realtime.sockets_close_for_user(user_id=user.pk, reason="password_changed")


@receiver(password_reset)
def close_sockets_on_password_reset(sender, request, user, **kwargs) -> None:
    realtime.sockets_close_for_user(user_id=user.pk, reason="password_reset")


@receiver(post_save, sender=get_user_model())
def stop_a_deactivated_user(sender, instance, created: bool, **kwargs) -> None:
    if not created and not instance.is_active:
        user_sockets_and_generations_stop(user=instance, reason="deactivated")


@receiver(post_delete, sender=get_user_model())
def forget_a_deleted_user(sender, instance, **kwargs) -> None:
    # Deleting is forgetting, however the account is deleted (the settings page, the admin):
    # once the deletion is committed, its data key goes, and with it every copy of its text.
    owner_id = instance.pk
    transaction.on_commit(lambda: data_key_destroy(owner_id=owner_id), robust=True)


@receiver(server_keys_rotated)
def second_factor_secrets_reseal(sender, **kwargs) -> str:
    count = authenticator_secrets_rotate()
    return f"Re-sealed {count} second-factor secret(s) under the first server key."
