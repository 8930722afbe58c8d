"""Sign-up: django-allauth's view, with the per-address throttle (DIARY_SIGNUPS_PER_HOUR).

Every other account page (sign-in, sign-out, password change and reset, two-factor sign-in,
the sessions page) is allauth's own, under /accounts/.
"""

from __future__ import annotations

from allauth.account.views import SignupView as AllauthSignupView
from django.contrib import messages
from django.http import HttpResponse
from django.utils.translation import gettext as _

from . import signup_throttle


class SignupView(AllauthSignupView):
    def form_valid(self, form) -> HttpResponse:
        # Counted only once the form is valid: a typo does not use up the address's allowance.
        if not signup_throttle.signup_take(self.request):
            # The form stays as typed (never the passwords), to send again later.
            form.add_error(
                None,
                _(
                    "Too many accounts have been made from your network in the last hour. "
                    "Please try again later."
                ),
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().form_valid(form)
        if self.request.user.is_authenticated:
            messages.success(
                self.request,
                _("Welcome to Nikki, %(name)s.") % {"name": self.request.user.get_username()},
            )
        return response


signup = SignupView.as_view()
