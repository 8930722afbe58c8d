"""django-allauth's account adapter: a new account gets its Profile at once."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter

from .services.accounts import profile_get


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            profile_get(user=user)
        return user
