"""Nikki's settings: one file, driven by environment variables only.

Production differs from `make run` by variables, never by code. The README's configuration
table lists every variable read here.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from diary_project.encryption_keys import development_encryption_keys, encryption_keys_check

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# --- Core -----------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/6.1/ref/settings/#core-settings
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Or a file that holds it (docker-compose.yml: one made on the first start of each install).
SECRET_KEY_FILE = env.str("DJANGO_SECRET_KEY_FILE", default="")
if not SECRET_KEY and SECRET_KEY_FILE and Path(SECRET_KEY_FILE).is_file():
    SECRET_KEY = Path(SECRET_KEY_FILE).read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY (50+ random characters) or DJANGO_SECRET_KEY_FILE (a file "
            "holding it), or DJANGO_DEBUG=true for development."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

# --- Encryption at rest ----------------------------------------------------------------------
# Diary text is stored encrypted under each person's data key (keystore/), and the data keys
# under these server keys: Fernet keys (Fernet.generate_key()), comma-separated, newest first.
# New data keys are wrapped with the first; any of them opens. `manage.py rotate_keys` rewraps
# every data key under the first. Or NIKKI_ENCRYPTION_KEYS_FILE: a file holding them, one a line.
NIKKI_ENCRYPTION_KEYS = env.list("NIKKI_ENCRYPTION_KEYS", default=[])
NIKKI_ENCRYPTION_KEYS_FILE = env.str("NIKKI_ENCRYPTION_KEYS_FILE", default="")
if not NIKKI_ENCRYPTION_KEYS and DEBUG:
    # Development (`make run`): a key made on first use under var/ (or in the file named).
    NIKKI_ENCRYPTION_KEYS = development_encryption_keys(
        Path(NIKKI_ENCRYPTION_KEYS_FILE or VAR_DIR / "nikki-encryption-keys")
    )
elif not NIKKI_ENCRYPTION_KEYS and NIKKI_ENCRYPTION_KEYS_FILE:
    if Path(NIKKI_ENCRYPTION_KEYS_FILE).is_file():
        NIKKI_ENCRYPTION_KEYS = Path(NIKKI_ENCRYPTION_KEYS_FILE).read_text().split()
if not NIKKI_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "Set NIKKI_ENCRYPTION_KEYS (a Fernet key: python -c 'from cryptography.fernet import "
        "Fernet; print(Fernet.generate_key().decode())') or NIKKI_ENCRYPTION_KEYS_FILE (a file "
        "holding it), or DJANGO_DEBUG=true for development. Back the key up apart from the "
        "databases: without it no diary can be read."
    )
NIKKI_ENCRYPTION_KEYS = encryption_keys_check(NIKKI_ENCRYPTION_KEYS)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
if "*" in ALLOWED_HOSTS and not DEBUG:
    # AllowedHostsOriginValidator treats "*" as "any origin": no cross-site socket protection.
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the hosts, not '*'.")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # first: its runserver replaces Django's (daphne.E001)
    "servestatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "axes",
    # Sign-in, sign-up, two-factor sign-in and the sessions page (django-allauth).
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "keystore",
    "diaries",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "diaries.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "diaries.mfa_required.MfaRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "diary_project.urls"
ASGI_APPLICATION = "diary_project.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL, e.g. postgres://nikki:secret@db:5432/nikki; SQLite under var/ by default.
# CONN_MAX_AGE stays 0 for a database server under ASGI: each request's sync code runs in a
# thread of its own, and persistent connections pile up per thread (docs/benchmark.md).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'nikki.sqlite3'}"),
    # The key store (keystore/): each person's data key, wrapped by NIKKI_ENCRYPTION_KEYS. Kept
    # apart so that a dump of the diary database holds no key to its text; back it up apart.
    "keys": env.db_url("KEYS_DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'nikki-keys.sqlite3'}"),
}
DATABASE_ROUTERS = ["keystore.routers.KeyStoreRouter"]
for _alias, _db in DATABASES.items():
    _db["CONN_MAX_AGE"] = 0
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        # SQLite is a file, not a server: a connection is closed with its thread and costs
        # nothing while open, but opening one (the PRAGMAs, Django's SQL functions) cost 17 % of
        # the server's CPU in the benchmark, because every database_sync_to_async call opened one.
        _db["CONN_MAX_AGE"] = None
        # WAL lets readers proceed during a write; IMMEDIATE avoids upgrade deadlocks.
        _db.setdefault("OPTIONS", {}).update(
            {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        )
        # Tests use a file too (in-memory SQLite's shared cache cannot wait for a lock), one per
        # test process so that concurrent runs never share it.
        _name = "test" if _alias == "default" else f"test-{_alias}"
        _db["TEST"] = {
            "NAME": env.str(
                "DJANGO_TEST_SQLITE" if _alias == "default" else "DJANGO_TEST_KEYS_SQLITE",
                default=str(VAR_DIR / f"{_name}-{os.getpid()}.sqlite3"),
            )
        }
# The key store's test database is made (and migrated) first: the diary's migrations use it.
DATABASES["keys"].setdefault("TEST", {})["DEPENDENCIES"] = []
DATABASES["default"].setdefault("TEST", {})["DEPENDENCIES"] = ["keys"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------
# REDIS_URL switches from the single-process in-memory layer to Redis, shared by all daphnes.
# https://channels.readthedocs.io/en/latest/topics/channel_layers.html
# CHANNEL_LAYER picks the Redis layer: "pubsub" (channels_redis's RedisPubSubChannelLayer, one
# PUBLISH per message, with members in the sending process served first, in the process:
# diaries/redis_layer.py; "core" failed every stream in the benchmark where pub/sub held them)
# or "core" (RedisChannelLayer: capacity and expiry per channel).
REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
if CHANNEL_LAYER not in ("pubsub", "core"):
    raise ImproperlyConfigured('CHANNEL_LAYER must be "pubsub" or "core".')
if REDIS_URL and CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "diaries.redis_layer.LocalFirstPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            # Channels' in-memory layer, minus an O(connections) sweep on every message.
            "BACKEND": "diaries.layers.FastInMemoryChannelLayer",
            "CONFIG": {"capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000)},
        }
    }

# --- Cache ----------------------------------------------------------------------------------
# Shared by all processes through Redis when REDIS_URL is set (login throttling, rate limits).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Accounts -------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out client before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Login throttling (django-axes): lock a username from an address after repeated failures,
# unlock after a cool-off. Behind a proxy, daphne runs with --proxy-headers so REMOTE_ADDR is
# the client's own address. https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_SENSITIVE_PARAMETERS = [
    "password",
    "password1",
    "password2",
    "new_password1",
    "new_password2",
    "old_password",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "diaries:home"
LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: sign-in by username and password as before, email optional (for resets).
# https://docs.allauth.org/en/latest/account/configuration.html
ACCOUNT_ADAPTER = "diaries.account_adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# A reset asked for an unknown address sends nothing (no mail to whoever was typed in).
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True  # as before: a session lasts SESSION_COOKIE_AGE
ACCOUNT_PRESERVE_USERNAME_CASING = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""  # the subjects name Nikki themselves
# allauth's own rate limits stay on beside django-axes' lock-out (below): its "login_failed"
# limit is also what stops the guessing of two-factor codes (5 wrong per account in 5 minutes).
# Two-factor sign-in: an authenticator app (TOTP) with recovery codes, and passkeys (WebAuthn).
# https://docs.allauth.org/en/latest/mfa/configuration.html
MFA_ADAPTER = "diaries.mfa_adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = env.str("DIARY_MFA_ISSUER", default="Nikki")
# Passkeys need https, or http://localhost (python-fido2 and browsers accept it as secure).
# allauth's MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN would skip the origin check altogether: off.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False
# Staff and moderators read other people's diaries: they must add a second factor before
# anything else (diaries/mfa_required.py).
DIARY_MFA_REQUIRED_FOR_STAFF = env.bool("DIARY_MFA_REQUIRED_FOR_STAFF", default=True)
# The sessions page: each signed-in session, its device and when it was last seen.
USERSESSIONS_TRACK_ACTIVITY = True
USERSESSIONS_ADAPTER = "diaries.usersessions_adapter.UserSessionsAdapter"

# Email: console by default; EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 for SMTP.
# Django 6.1's MAILERS replaces the EMAIL_* settings.
_email = env.email_url("EMAIL_URL", default="consolemail://")
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": (
            {
                "host": _email.get("EMAIL_HOST") or "localhost",
                "port": _email.get("EMAIL_PORT") or 25,
                "username": _email.get("EMAIL_HOST_USER") or "",
                "password": _email.get("EMAIL_HOST_PASSWORD") or "",
                "use_tls": bool(_email.get("EMAIL_USE_TLS")),
                "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
                "timeout": 10,
            }
            if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Nikki <nikki@localhost>")

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "diaries" / "locale"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
# Served by servestatic (ASGI-native whitenoise) in every mode; no separate web server needed.
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "servestatic.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
SERVESTATIC_USE_FINDERS = DEBUG
SERVESTATIC_AUTOREFRESH = DEBUG

# --- Security -------------------------------------------------------------------------------
# Behind a TLS-terminating proxy set DJANGO_SECURE=true and DJANGO_SECURE_PROXY_HEADER=true.
SECURE = env.bool("DJANGO_SECURE", default=False)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
if env.bool("DJANGO_SECURE_PROXY_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Django 6's Content Security Policy: everything from this origin only. connect-src 'self'
# covers the same-origin WebSocket (ws:/wss:) in CSP Level 3 browsers.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Logging --------------------------------------------------------------------------------
# Diary text and API keys are never logged: log records carry ids and codes only.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "diaries": {"level": env.str("DIARY_LOG_LEVEL", default="INFO")},
        # httpx2 logs request URLs at INFO; keep it quiet.
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

# --- The diary ------------------------------------------------------------------------------
# Which writer: "auto" (OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set, else offline),
# "openai" or "offline".
DIARY_WRITER = env.str("DIARY_WRITER", default="auto")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)
OPENAI_CONNECT_TIMEOUT = env.float("OPENAI_CONNECT_TIMEOUT", default=5.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)
# The openai client's HTTP transport: "aiohttp" (openai's DefaultAioHttpClient; less CPU per
# streamed token, docs/benchmark.md) or "httpx" (the client's default, httpx2).
OPENAI_HTTP_CLIENT = env.str("OPENAI_HTTP_CLIENT", default="aiohttp")
if OPENAI_HTTP_CLIENT not in ("aiohttp", "httpx"):
    raise ImproperlyConfigured('OPENAI_HTTP_CLIENT must be "aiohttp" or "httpx".')
# The request field for the answer's limit: "auto" (max_completion_tokens for OpenAI's own API,
# max_tokens for any other OPENAI_BASE_URL: llama.cpp, Ollama and LM Studio ignore the newer
# name), or either name. Whatever the server does, an answer stops at DIARY_MAX_TOKENS content
# chunks or DIARY_MAX_TEXT_CHARS characters.
OPENAI_MAX_TOKENS_PARAM = env.str("OPENAI_MAX_TOKENS_PARAM", default="auto") or "auto"
if OPENAI_MAX_TOKENS_PARAM not in ("auto", "max_completion_tokens", "max_tokens"):
    raise ImproperlyConfigured(
        'OPENAI_MAX_TOKENS_PARAM must be "auto", "max_completion_tokens" or "max_tokens".'
    )
DIARY_MAX_TOKENS = env.int("DIARY_MAX_TOKENS", default=900)
DIARY_TEMPERATURE = env.float("DIARY_TEMPERATURE", default=0.8)
# Seconds between pieces of the offline writer (a human reading pace).
DIARY_OFFLINE_DELAY = env.float("DIARY_OFFLINE_DELAY", default=0.06)

# Streaming: coalesce pieces into one frame per window; checkpoint partial text this often.
DIARY_FLUSH_MS = env.int("DIARY_FLUSH_MS", default=40)
DIARY_CHECKPOINT_SECONDS = env.float("DIARY_CHECKPOINT_SECONDS", default=1.0)
DIARY_HEARTBEAT_STALE_SECONDS = env.float("DIARY_HEARTBEAT_STALE_SECONDS", default=15.0)
DIARY_SWEEP_SECONDS = env.float("DIARY_SWEEP_SECONDS", default=10.0)
DIARY_GENERATION_TIMEOUT = env.float("DIARY_GENERATION_TIMEOUT", default=300.0)
# Also: one socket gets at most one snapshot of an entry per this many seconds, unless its
# generation moved on; asking sooner gets `rate_limited`, and again and again closes it (4013).
DIARY_SNAPSHOT_TIMEOUT = env.float("DIARY_SNAPSHOT_TIMEOUT", default=2.0)
# A WebSocket whose client leaves more than this many bytes unread (any frames, pongs included)
# on top of the transport's full buffer is dropped (it reconnects and resynchronises); 0 turns
# the guard off. diaries/backpressure.py.
DIARY_WS_MAX_BUFFER_BYTES = env.int("DIARY_WS_MAX_BUFFER_BYTES", default=1024 * 1024)

# Limits.
DIARY_MAX_MESSAGE_BYTES = env.int("DIARY_MAX_MESSAGE_BYTES", default=16384)
DIARY_MAX_NOTE_CHARS = env.int("DIARY_MAX_NOTE_CHARS", default=2000)
DIARY_MAX_TEXT_CHARS = env.int("DIARY_MAX_TEXT_CHARS", default=20000)
DIARY_MESSAGES_PER_SECOND = env.float("DIARY_MESSAGES_PER_SECOND", default=5.0)
DIARY_MESSAGE_BURST = env.int("DIARY_MESSAGE_BURST", default=10)
DIARY_DAILY_GENERATIONS = env.int("DIARY_DAILY_GENERATIONS", default=50)
DIARY_MAX_RUNNING_PER_USER = env.int("DIARY_MAX_RUNNING_PER_USER", default=2)
DIARY_USER_MESSAGES_PER_SECOND = env.int("DIARY_USER_MESSAGES_PER_SECOND", default=10)
DIARY_MAX_SOCKETS_PER_USER = env.int("DIARY_MAX_SOCKETS_PER_USER", default=20)
# Accounts one client address may make per hour (each account has its own daily quota).
DIARY_SIGNUPS_PER_HOUR = env.int("DIARY_SIGNUPS_PER_HOUR", default=5)

# --- Search ---------------------------------------------------------------------------------
# Search reads and matches a person's entries in Python (the words are encrypted at rest:
# diaries/search.py). The normalized diary of the last DIARY_SEARCH_CACHE_PEOPLE searchers is
# kept in the process's memory, for the next page or query, until an entry changes or
# DIARY_SEARCH_CACHE_SECONDS pass (0: never kept; every search reads the whole diary again).
DIARY_SEARCH_CACHE_SECONDS = env.float("DIARY_SEARCH_CACHE_SECONDS", default=300.0)
DIARY_SEARCH_CACHE_PEOPLE = env.int("DIARY_SEARCH_CACHE_PEOPLE", default=4)

# --- Trash ----------------------------------------------------------------------------------
# A deleted entry stays this many days in its owner's trash (restorable), then the sweeper that
# every server runs (and `manage.py sweep_generations`) deletes it for good.
DIARY_TRASH_DAYS = env.int("DIARY_TRASH_DAYS", default=30)

# --- Moderation -----------------------------------------------------------------------------
# The automatic check of every finished generation (diaries/services/checks.py): "auto" (OpenAI's
# moderation endpoint when OPENAI_API_KEY is set and OPENAI_BASE_URL is not — most compatible
# servers have none — else the word list), "openai", "wordlist" or "off".
# https://platform.openai.com/docs/guides/moderation
DIARY_MODERATION = env.str("DIARY_MODERATION", default="auto")
if DIARY_MODERATION not in ("auto", "openai", "wordlist", "off"):
    raise ImproperlyConfigured("DIARY_MODERATION must be auto, openai, wordlist or off.")
DIARY_MODERATION_MODEL = env.str("DIARY_MODERATION_MODEL", default="omni-moderation-latest")
# A compatible server with a /moderations endpoint; empty: OPENAI_BASE_URL, else OpenAI.
DIARY_MODERATION_BASE_URL = env.str("DIARY_MODERATION_BASE_URL", default="")
if DIARY_MODERATION == "openai" and not (
    OPENAI_API_KEY or OPENAI_BASE_URL or DIARY_MODERATION_BASE_URL
):
    raise ImproperlyConfigured(
        "DIARY_MODERATION=openai needs OPENAI_API_KEY or a base URL (DIARY_MODERATION_BASE_URL)."
    )
DIARY_MODERATION_TIMEOUT = env.float("DIARY_MODERATION_TIMEOUT", default=10.0)
# The word-list checker flags a text containing any of these (comma-separated) or of the file's
# lines; with neither it uses the small lists shipped per language (diaries/checkers/wordlists/).
DIARY_MODERATION_WORDS = env.list("DIARY_MODERATION_WORDS", default=[])
DIARY_MODERATION_WORDS_FILE = env.str("DIARY_MODERATION_WORDS_FILE", default="")
DIARY_REPORTS_PER_HOUR = env.int("DIARY_REPORTS_PER_HOUR", default=10)
