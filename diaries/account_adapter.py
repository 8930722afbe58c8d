"""django-allauth's account adapter: a new account gets its Profile at once, and mail goes out
as plain text a person can copy a link from."""

from __future__ import annotations

import email.policy

from allauth.account.adapter import DefaultAccountAdapter
from django.core.mail import EmailMultiAlternatives

from .services.accounts import profile_get

# RFC 5322's limit. A line longer than the default policy's 78 characters (a reset link is)
# makes Python's email package write the whole body quoted-printable, and a link copied from
# the console or a mail file then has "=3D" and soft line breaks in it.
MAX_LINE_LENGTH = 998


class PlainTextMessage(EmailMultiAlternatives):
    """A message whose text body goes out as written (8bit UTF-8, or 7bit when ASCII)."""

    def message(self, *, policy=email.policy.default):
        return super().message(policy=policy.clone(max_line_length=MAX_LINE_LENGTH))


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            profile_get(user=user)
        return user

    def render_mail(self, template_prefix, email, context, headers=None):
        rendered = super().render_mail(template_prefix, email, context, headers=headers)
        message = PlainTextMessage(
            subject=rendered.subject,
            body=rendered.body,
            from_email=rendered.from_email,
            to=rendered.to,
            headers=rendered.extra_headers,
            alternatives=getattr(rendered, "alternatives", None),
        )
        message.content_subtype = rendered.content_subtype
        return message
