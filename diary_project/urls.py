from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from diaries import account_views, views

# The admin signs in through allauth's sign-in, so a second factor is asked there too.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", account_views.signup, name="account_signup"),
    # Django's own addresses for these pages, kept for people's bookmarks and scripts.
    path(
        "accounts/password_change/",
        RedirectView.as_view(pattern_name="account_change_password"),
        name="password_change",
    ),
    path(
        "accounts/password_reset/",
        RedirectView.as_view(pattern_name="account_reset_password"),
        name="password_reset",
    ),
    # Sign-in, sign-out, password change and reset, two-factor sign-in (2fa/), sessions/.
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("", include("diaries.urls")),
]
