"""Zhiyuan's one settings module, configured by environment variables.

Every variable is documented in docs/configuration.md. The defaults give the embedded demo: a
SQLite file and generated keys under ``var/``. ``ZHIYUAN_ENV=production`` switches on the
production profile, which refuses to start without a secret key, encryption keys and hosts.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import overload

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent


@overload
def env(name: str) -> str | None: ...
@overload
def env(name: str, default: str) -> str: ...
def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"ZHIYUAN_{name}")
    return value if value else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


ENVIRONMENT = env("ENV", "development")
if ENVIRONMENT not in {"development", "production", "test"}:
    raise ImproperlyConfigured("ZHIYUAN_ENV must be development, production or test")
PRODUCTION = ENVIRONMENT == "production"

VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var")) or "var")


def _kept_secret(filename: str, make: str) -> str:
    """Read a development secret from var/, creating it once so restarts keep sessions and data."""
    if PRODUCTION:
        raise ImproperlyConfigured(f"{make} must be configured in production")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / filename
    if not path.exists():
        # The secret key, or an empty key file that the lines below fill in.
        value = secrets.token_urlsafe(50) if make == "ZHIYUAN_SECRET_KEY" else json.dumps({})
        path.write_text(value, encoding="utf-8")
        path.chmod(0o600)
    if make != "ZHIYUAN_SECRET_KEY":
        keys = json.loads(path.read_text(encoding="utf-8"))
        wanted = {
            "encryption_keys": lambda: f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
            "blind_index_key": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            "audit_key": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        missing = {name: make_key() for name, make_key in wanted.items() if name not in keys}
        if missing:  # a var/ from an older version gains the keys it lacks
            path.write_text(json.dumps(keys | missing), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = env("SECRET_KEY") or _kept_secret("secret_key", "ZHIYUAN_SECRET_KEY")

_dev_keys: dict[str, str] = {}
if not (env("ENCRYPTION_KEYS") and env("BLIND_INDEX_KEY") and env("AUDIT_KEY")):
    _dev_keys = json.loads(_kept_secret("keys.json", "ZHIYUAN_ENCRYPTION_KEYS"))
# "id:base64key,id:base64key" — the first key encrypts, every listed key decrypts (rotation).
ZHIYUAN_ENCRYPTION_KEYS = env("ENCRYPTION_KEYS") or _dev_keys["encryption_keys"]
ZHIYUAN_BLIND_INDEX_KEY = env("BLIND_INDEX_KEY") or _dev_keys["blind_index_key"]
# Keys the audit chain's hashes (HMAC), so that whoever can write the table cannot recompute it.
ZHIYUAN_AUDIT_KEY = env("AUDIT_KEY") or _dev_keys["audit_key"]
# Where the chain's head is anchored, outside the database (ship it to write-once storage).
ZHIYUAN_AUDIT_ANCHOR_FILE = Path(env("AUDIT_ANCHOR_FILE", str(VAR_DIR / "audit-anchors.log")))
# The cipher behind personal data; a deployment may name an SM4 implementation instead.
ZHIYUAN_CIPHER = env("CIPHER", "zhiyuan.core.crypto.AesGcmCipher")

DEBUG = env_bool("DEBUG", default=ENVIRONMENT == "development")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ZHIYUAN_ALLOWED_HOSTS must name the hosts in production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "zhiyuan.core",
    "zhiyuan.accounts",
    "zhiyuan.regions",
    "zhiyuan.people",
    "zhiyuan.organizations",
    "zhiyuan.safeguards",
    "zhiyuan.demo",
    "zhiyuan.ledger",
    "zhiyuan.store",
    "zhiyuan.activities",
    "zhiyuan.records",
    "zhiyuan.notifications",
    "zhiyuan.needs",
    "zhiyuan.matching",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "zhiyuan.core.middleware.SessionLimitsMiddleware",
    "zhiyuan.accounts.second_factor.AdminSecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "zhiyuan.core.middleware.CSPMiddleware",  # django-csp's, the fixed policy built once
    "zhiyuan.core.middleware.NoStoreMiddleware",
    "zhiyuan.core.middleware.RefusalAuditMiddleware",
    # axes last, as its documentation asks, so it sees the final response of a log-in.
    "axes.middleware.AxesMiddleware",
]
# What only a browser's session needs (its cookie, its user, its CSRF token, its messages, its
# limits, its second factor, its log-in attempts). An API call that brings a bearer token and no
# cookie at all skips these and runs the rest of MIDDLEWARE, in the same order
# (zhiyuan/core/handlers.py): for it they do nothing but cost a tenth of a check-in's CPU.
ZHIYUAN_SESSION_ONLY_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "zhiyuan.core.middleware.SessionLimitsMiddleware",
    "zhiyuan.accounts.second_factor.AdminSecondFactorMiddleware",
    "axes.middleware.AxesMiddleware",
]
# The quick lane (zhiyuan/core/quick_lane.py): an app's check-ins and sign-ups answered before
# URL resolving and ninja, with the same answer and headers. On unless turned off here.
ZHIYUAN_QUICK_LANE = env_bool("ZHIYUAN_QUICK_LANE", True)

ROOT_URLCONF = "zhiyuan.urls"
WSGI_APPLICATION = "zhiyuan.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "zhiyuan.core.context_processors.shell",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'zhiyuan.sqlite3'}") or ""
_database = dj_database_url.parse(DATABASE_URL)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers on the embedded database queue instead of failing: WAL lets readers
    # go on during a write, the busy timeout makes a writer wait, and IMMEDIATE transactions
    # take the write lock at BEGIN so that two writers never deadlock on a lock upgrade.
    _database["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    _database["CONN_MAX_AGE"] = int(env("CONN_MAX_AGE", "600" if PRODUCTION else "0") or 0)
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and authentication ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # axes first: it refuses a locked-out account before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "zhiyuan.accounts.backends.PhoneBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "zhiyuan.accounts.validators.MaximumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Lock-out: 5 failures per account for 15 minutes, keyed on the account alone, so that a
# community centre's shared IP address does not lock out every resident it helps.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_FORM_FIELD = "username"
# Axes stores the user name it keys on; store the phone's blind index, never the number.
AXES_USERNAME_CALLABLE = "zhiyuan.accounts.backends.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "zhiyuan.accounts.views.locked_out"
AXES_VERBOSE = False
# axes.W006 warns that keying on the account alone lets an attacker rotate addresses. That is
# the intent here: the lock protects the account, and shared IPs (community centres) must work.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Administrators confirm a TOTP code after their password: "required" in production; the demo
# and the test suite default to "optional" (tests of the rule switch it on).
ZHIYUAN_ADMIN_OTP = env("ADMIN_OTP", "required" if PRODUCTION else "optional")
if ZHIYUAN_ADMIN_OTP not in {"required", "optional"}:
    raise ImproperlyConfigured("ZHIYUAN_ADMIN_OTP is required or optional")
OTP_TOTP_ISSUER = "Zhiyuan"

# Sessions: 30 minutes idle (15 for administrators), 12 hours at most (SessionLimitsMiddleware).
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True
ZHIYUAN_SESSION_IDLE_ADMIN_SECONDS = 15 * 60
ZHIYUAN_SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True  # stored in UTC, shown in Asia/Shanghai

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")) or "")
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")) or "")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Ledger ---
# Write an audit entry for every ledger booking (True), or only for each sealed batch, which
# covers its bookings by hash and lets concurrent writers go 3–4× faster (docs/adr/0005).
ZHIYUAN_LEDGER_AUDIT_EACH = env_bool("LEDGER_AUDIT_EACH", default=True)

# --- Background work ---------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Outgoing messages -------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25") or 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "zhiyuan@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ZHIYUAN_SMS_BACKEND = env("SMS_BACKEND", "zhiyuan.core.sms.ConsoleSmsBackend")
if PRODUCTION and ZHIYUAN_SMS_BACKEND.endswith("ConsoleSmsBackend"):
    # The console backend logs codes in clear: fine for the demo, a hole in production.
    raise ImproperlyConfigured("ZHIYUAN_SMS_BACKEND must name a real SMS gateway in production")

# --- Security headers --------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(env("HSTS_SECONDS", str(365 * 24 * 3600)) or 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("ZHIYUAN_SECRET_KEY must be at least 50 random characters")

# --- Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

ZHIYUAN_VERSION = "0.1.0"
ZHIYUAN_NEED_RANKER = env("NEED_RANKER", "zhiyuan.matching.services.EngineRanker")
NINJA_PAGINATION_PER_PAGE = 50
