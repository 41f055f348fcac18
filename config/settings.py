"""Settings for the deliverability back office: one file, driven by environment variables.

Zero variables are needed for development and tests (SQLite under var/, DEBUG on). Production
sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL (see README, "Configuration").
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "anymail",
    "django_tasks_db",
    "deliverability",
]

MIDDLEWARE = [
    "deliverability.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "deliverability.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A provider body that anymail cannot parse → 400, not 500 (only under /webhooks/anymail/).
    "deliverability.webhooks.UnreadableWebhookMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(env_str("DATABASE_URL", "sqlite:///var/db.sqlite3"), base_dir=BASE_DIR),
}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 0, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind a transaction-mode pooler (PgBouncer): server-side cursors and prepared statements
# don't survive a connection switch (docs/deploy.md).
if env_bool("DATABASE_POOLER", default=False):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
# An optional read replica for the check API (config/db_router.py).
if env_str("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = parse_database_url(env_str("DATABASE_REPLICA_URL"), base_dir=BASE_DIR)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["config.db_router.PrimaryReplicaRouter"]
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 5, minimum=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every worker (API throttling): Django's database cache, whose table
# `make run`, `make test` and `make serve` create with `createcachetable`.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
    }
}

# Background work (list checks): Django's tasks framework, queued in the database and run by
# `manage.py db_worker` (django-tasks-db), which `make run` and `make serve` start.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Lists uploaded to the portal's list check and their reports: private files, never served.
LIST_CHECK_DIR = Path(env_str("LIST_CHECK_DIR", str(BASE_DIR / "var" / "listchecks")))
LIST_CHECK_MAX_UPLOAD_BYTES = env_int("LIST_CHECK_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/portal/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pl", "Polski")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Warsaw")  # what the UI shows; storage is UTC
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# While developing and testing, whitenoise finds files per request (no scan of STATIC_ROOT
# at start-up, which `make serve`'s collectstatic may be rewriting at the same time).
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
# Served by whitenoise (compressed, cache-busting names) from STATIC_ROOT after collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# E-mail (decisions to owners, password resets): Django 6.1's MAILERS. Console output
# while developing; SMTP from EMAIL_* variables in production.
_EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
_EMAIL_OPTIONS: dict[str, object] = {}
if _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    _EMAIL_OPTIONS = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25, minimum=1),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", default=False),
        "timeout": env_int("EMAIL_TIMEOUT", 10, minimum=1),
    }
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND, "OPTIONS": _EMAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "deliverability@localhost")
# Links in e-mails to owners point here.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Production hardening; all of it on when DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True

# Policy thresholds of DESIGN.md ("Suppression policy", "Reinstatement workflow").
# Read at call time through deliverability.conf.policy(), never at import.
DELIVERABILITY = {
    "REJECTED_STRIKES": env_int("POLICY_REJECTED_STRIKES", 2, minimum=1),
    "REJECTED_WINDOW_DAYS": env_int("POLICY_REJECTED_WINDOW_DAYS", 30, minimum=1),
    "SOFT_BOUNCE_LIMIT": env_int("POLICY_SOFT_BOUNCE_LIMIT", 5, minimum=1),
    "SOFT_BOUNCE_MIN_DAYS": env_int("POLICY_SOFT_BOUNCE_MIN_DAYS", 3, minimum=1),
    "SOFT_BOUNCE_WINDOW_DAYS": env_int("POLICY_SOFT_BOUNCE_WINDOW_DAYS", 14, minimum=1),
    "INCIDENT_THRESHOLD": env_int("POLICY_INCIDENT_THRESHOLD", 50, minimum=1),
    "INCIDENT_WINDOW_MINUTES": env_int("POLICY_INCIDENT_WINDOW_MINUTES", 60, minimum=1),
    "PROBATION_DAYS": env_int("POLICY_PROBATION_DAYS", 30, minimum=1),
    "FAILED_REINSTATEMENT_BLOCK_DAYS": env_int("POLICY_FAILED_REINSTATEMENT_BLOCK_DAYS", 90, minimum=0),
    "REQUEST_DAILY_LIMIT": env_int("POLICY_REQUEST_DAILY_LIMIT", 20, minimum=1),
    "REQUEST_MIN_REASON_LENGTH": env_int("POLICY_REQUEST_MIN_REASON_LENGTH", 20, minimum=1),
    "RETENTION_DAYS": env_int("RETENTION_DAYS", 730, minimum=1),
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded per view (DRF's JSONParser ignores DATA_UPLOAD_MAX_MEMORY_SIZE).
    "DEFAULT_PARSER_CLASSES": ["deliverability.api.parsers.BoundedJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["deliverability.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["deliverability.api.authentication.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["deliverability.api.throttling.ApiKeyRateThrottle"],
    # Requests per API key ("<n>/s|min|hour|day"), counted in the shared database cache.
    "DEFAULT_THROTTLE_RATES": {"api_key": env_str("API_THROTTLE_RATE", "6000/min")},
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "deliverability.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Swagger UI's files from the drf-spectacular-sidecar package: /api/v1/docs/ works offline.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS = {
    "TITLE": "Deliverability back office API",
    "DESCRIPTION": "Check addresses before a send, sync contacts, follow suppressions. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Provider webhooks at /webhooks/anymail/<esp>/tracking/ through django-anymail (docs/webhooks.md).
# WEBHOOK_SECRET is the "user:password" of the HTTP basic auth in every provider's URL (several,
# comma-separated, while rotating). With DEBUG off a secret or key left unset is an unguessable
# one, so those webhooks refuse every call instead of accepting anyone's.
_UNGUESSABLE = secrets.token_urlsafe(32)
_WEBHOOK_SECRETS = env_list("WEBHOOK_SECRET", []) or (
    ["anymail:dev-only-webhook-secret"] if DEBUG else [f"unset:{_UNGUESSABLE}"]
)
if any(":" not in secret for secret in _WEBHOOK_SECRETS):
    raise ImproperlyConfigured("WEBHOOK_SECRET must be user:password (comma-separated to rotate)")
ANYMAIL = {
    "WEBHOOK_SECRET": _WEBHOOK_SECRETS,
    # Mailgun signs every call (HMAC-SHA256) with the account's webhook signing key.
    "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY")
    or ("dev-only-mailgun-signing-key" if DEBUG else _UNGUESSABLE),
    # Amazon SNS asks to confirm a new subscription; anymail confirms it through boto3 (a call
    # to AWS). Off by default while developing and testing: no network.
    "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": env_bool(
        "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS", default=not DEBUG
    ),
}
# Postal signs with an RSA key (its public half, base64, without the BEGIN/END lines); unset,
# the Postal webhook refuses every call. SendGrid's signed event webhook (ECDSA) is optional.
if env_str("POSTAL_WEBHOOK_KEY").strip():
    ANYMAIL["POSTAL_WEBHOOK_KEY"] = env_str("POSTAL_WEBHOOK_KEY").strip()
if env_str("SENDGRID_WEBHOOK_VERIFICATION_KEY").strip():
    ANYMAIL["SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY"] = env_str("SENDGRID_WEBHOOK_VERIFICATION_KEY").strip()

# One JSON object per line on stdout (LOG_FORMAT=json, the default with DEBUG off), each with
# the request id that RequestIdMiddleware sets and returns as X-Request-ID.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "deliverability.log_format.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "deliverability.log_format.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["request_id"],
            "formatter": env_str("LOG_FORMAT", "text" if DEBUG else "json"),
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
