"""Thin receivers: Django's auth events close the sockets they make stale."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import realtime
from .services.generations import user_sockets_and_generations_stop


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        realtime.sockets_close_for_session(session_key=key, reason="signed_out")


@receiver(post_save, sender=get_user_model())
def stop_a_deactivated_user(sender, instance, created: bool, **kwargs) -> None:
    if not created and not instance.is_active:
        user_sockets_and_generations_stop(user=instance, reason="deactivated")
