"""Boussole settings: one file, read from environment variables.

Every variable has a safe local default (SQLite under var/, Celery on the
filesystem transport, console email). A bad value stops start-up with a
message that names the variable, so a typo never runs silently.
"""

import datetime as dt
import os
import zoneinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BOUSSOLE_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {raw!r}).")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {raw!r}).") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value}).")
    return value


def env_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name) or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a number (got {raw!r}).") from None
    if not value.is_finite() or value <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive number (got {raw!r}).")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Only ever used on a developer's machine: DEBUG is on.
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crm",
    "kpis",
    "surveys",
    "team",
    "api",
    "alerts",
    "ui",
    "axes",
    "csp",
    "auditlog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body (CSRF, sessions, views): config/middleware.py.
    "config.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Records who made each audited change (django-auditlog).
    "auditlog.middleware.AuditlogMiddleware",
    # Last: it turns a locked-out login into the lockout page (crm/auth_backends.py).
    "axes.middleware.AxesMiddleware",
]

# The largest request body accepted (uploads: the import's 50 MB of files plus
# the form around them), refused on its headers before it is read.
MAX_REQUEST_BODY_BYTES = env_int("MAX_UPLOAD_MB", 51, minimum=1) * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "config.middleware.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "crm.context_processors.boussole",
                "ui.context_processors.ui",
            ],
            # |money, |money_short and |initials in every template, no {% load %}.
            "builtins": ["ui.templatetags.ui"],
        },
    },
]

# Database: DATABASE_URL, or a SQLite file under var/ (the embedded default).
_database_url = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'boussole.sqlite3'}"
try:
    _db = dj_database_url.parse(_database_url, conn_max_age=60)
except Exception as exc:  # dj-database-url raises several types on a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if not _db.get("ENGINE"):
    raise ImproperlyConfigured("DATABASE_URL names an unknown database scheme.")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share one file: wait on locks
    # instead of failing, and use WAL so readers never block the writer.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Audit trail (django-auditlog): every change to these records through the
# ORM's save() and delete() (pages, API, admin, shell) is kept with who, when
# and old → new, shown on each record's page and in the admin (Log entries).
# Bulk writes (an import's rows) are not: the import is its own record.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "crm.Deal", "exclude_fields": ["updated_at"]},
    "crm.Prospect",
    "crm.Customer",
    "crm.Target",
    "crm.CampaignSpend",
    "crm.SalesCost",
    {"model": "crm.User", "exclude_fields": ["password", "last_login"]},
)
# Login throttling (django-axes, crm/auth_backends.py): LOGIN_FAILURE_LIMIT
# failed logins for one account, or from one address, lock it for
# LOGIN_COOLOFF_MINUTES; a success resets the count; an admin unlocks early.
AUTHENTICATION_BACKENDS = [
    "crm.auth_backends.ThrottledBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.auth_backends.lockout_response"
AXES_CLIENT_IP_CALLABLE = "crm.auth_backends.client_ip"
AXES_VERBOSE = False

# Internationalisation: English and French; business dates live in TIME_ZONE.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE is not a known time zone (got {TIME_ZONE!r}).") from None
USE_I18N = True
# One date format per language (config/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
USE_TZ = True

# The company customers see on survey pages and in mails.
COMPANY_NAME = env_str("COMPANY_NAME", "Boussole")
# Its logo on those pages: a same-origin URL (e.g. /static/logo.svg); empty shows its initial.
COMPANY_LOGO_URL = env_str("COMPANY_LOGO_URL")

CURRENCY = env_str("CURRENCY", "EUR").upper()
if len(CURRENCY) != 3 or not CURRENCY.isalpha():
    raise ImproperlyConfigured(f"CURRENCY must be a three-letter ISO 4217 code (got {CURRENCY!r}).")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Email: the console backend unless EMAIL_URL-style settings say otherwise.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Boussole <boussole@localhost>")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport under
# var/, so a real worker and beat run on one machine with no broker installed.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f"REDIS_URL must start with redis://, rediss:// or unix:// (got {REDIS_URL!r})."
    )
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "data_folder_processed": str(_celery_dir / "processed"),
        # Without this kombu writes its control exchange to ./control.
        "control_folder": str(_celery_dir / "control"),
    }
# /readyz fails when the last nightly KPI run finished longer ago than this
# many hours (0: report its age only). config/health.py.
HEALTH_NIGHTLY_MAX_HOURS = env_int("HEALTH_NIGHTLY_MAX_HOURS", 0)
# Task progress lives in our own tables (kpis.RecomputeRun), so no result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Nightly, company time: apply the churn rule, then recompute the current
    # and previous period of each granularity (kpis.tasks.nightly_recompute).
    "kpis-nightly-recompute": {
        "task": "kpis.tasks.nightly_recompute",
        "schedule": crontab(hour=2, minute=0),
    },
    # Surveys: send due invitations and reminders (surveys.tasks).
    "surveys-send-due": {
        "task": "surveys.tasks.send_due_invitations",
        "schedule": crontab(minute="*/15"),
    },
    # The weekly digest, Monday 07:00 company time (alerts.tasks).
    "alerts-weekly-digest": {
        "task": "alerts.tasks.weekly_digest",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
    },
    # The team pulse: open a round when the admin's schedule says so (default
    # monthly), send invitations and reminders (team.tasks).
    "team-pulse": {
        "task": "team.tasks.run_pulse",
        "schedule": crontab(hour=9, minute=0),
    },
    # Webhooks: retry the deliveries whose next attempt is due (api.tasks).
    "webhooks-retry-due": {
        "task": "api.tasks.retry_due_deliveries",
        "schedule": crontab(minute="*"),
    },
}

# KPI settings (../shared/kpi-spec.md).
KPI_MIN_SAMPLE = env_int("KPI_MIN_SAMPLE", 5, minimum=1)
KPI_COHORT_MATURITY_DAYS = env_int("KPI_COHORT_MATURITY_DAYS", 90)
KPI_CHURN_INACTIVITY_DAYS = env_int("KPI_CHURN_INACTIVITY_DAYS", 365)
KPI_GROSS_MARGIN = env_decimal("KPI_GROSS_MARGIN", "1.0")

# Alerts and the weekly digest (docs/alerts.md).
ALERT_BAND_K = float(env_decimal("ALERT_BAND_K", "3"))
ALERT_DETRACTORS_DAYS = env_int("ALERT_DETRACTORS_DAYS", 30, minimum=1)
ALERT_DETRACTORS_MIN = env_int("ALERT_DETRACTORS_MIN", 3, minimum=1)
# A target is at risk when the latest forecast gives it less than this % chance.
ALERT_FORECAST_MIN_CHANCE = env_decimal("ALERT_FORECAST_MIN_CHANCE", "30")
# A team or salesperson with this many deals stalled past their stage threshold gets an alert.
ALERT_STALLED_MIN = env_int("ALERT_STALLED_MIN", 1, minimum=1)
DIGEST_RATE_LIMIT = env_str("DIGEST_RATE_LIMIT", "30/m")

# Surveys.
SURVEY_DELAY_DAYS = env_int("SURVEY_DELAY_DAYS", 3)
SURVEY_THROTTLE_DAYS = env_int("SURVEY_THROTTLE_DAYS", 90)
SURVEY_REMINDER_DAYS = env_int("SURVEY_REMINDER_DAYS", 7, minimum=1)
SURVEY_EXPIRY_DAYS = env_int("SURVEY_EXPIRY_DAYS", 30, minimum=1)
# Self-grading guard: within this many days of a survey sent to a customer,
# only a manager may change its contact email (crm.forms.CustomerForm).
CONTACT_EMAIL_LOCK_DAYS = env_int("CONTACT_EMAIL_LOCK_DAYS", 30)
# Survey submissions accepted per link per hour, and per client address per
# hour (a generous ceiling: customers behind one NAT share it) (surveys.ratelimit),
# and the header a trusted reverse proxy puts the client address in (e.g.
# HTTP_X_FORWARDED_FOR); empty means REMOTE_ADDR. See docs/surveys.md.
SURVEY_RATE_LIMIT_PER_TOKEN = env_int("SURVEY_RATE_LIMIT_PER_TOKEN", 10, minimum=1)
SURVEY_RATE_LIMIT_PER_HOUR = env_int("SURVEY_RATE_LIMIT_PER_HOUR", 300, minimum=1)
SURVEY_CLIENT_IP_HEADER = env_str("SURVEY_CLIENT_IP_HEADER")


# The JSON API (api/, docs/api.md): personal access tokens or the session,
# cursor pagination, a request budget per token (API_RATE_LIMIT, e.g.
# 1000/hour; anonymous callers get API_ANON_RATE_LIMIT per address).
def env_rate(name: str, default: str) -> str:
    raw = env_str(name, default).strip()
    number, _sep, period = raw.partition("/")
    if not number.isdigit() or int(number) < 1 or period not in ("second", "minute", "hour", "day"):
        raise ImproperlyConfigured(f"{name} must look like 1000/hour (got {raw!r}).")
    return raw


API_RATE_LIMIT = env_rate("API_RATE_LIMIT", "1000/hour")
API_ANON_RATE_LIMIT = env_rate("API_ANON_RATE_LIMIT", "100/hour")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorPagination",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle", "api.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": API_RATE_LIMIT, "anon": API_ANON_RATE_LIMIT},
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Boussole API",
    "DESCRIPTION": "Prospects, customers, deals, activities, campaigns, costs, targets, surveys, KPIs, "
    "forecasts, alerts, training sessions and certifications. "
    "Guide and curl examples: docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "crm.models.Stage",
        "OpenStageEnum": ["prospecting", "qualification", "proposal", "negotiation"],
        "ActivityKindEnum": "crm.models.Activity.Kind",
        "TrainingKindEnum": "team.models.TrainingSession.Kind",
    },
}

# Webhooks (api/webhooks.py): each delivery is tried at once, then again after
# each of these delays (seconds) until one succeeds: about a day in all.
WEBHOOK_RETRY_DELAYS = [60, 300, 1800, 7200, 21600, 43200]
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)

# Cache: Redis when REDIS_URL is set, so rate limits hold across gunicorn
# workers; otherwise a per-process memory cache.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "boussole",
        }
    }
    # Sessions read from Redis and written through to the database: every
    # page runs one query fewer, and a Redis restart logs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=True)
# HTTPS (README, "Configuration"): in production plain HTTP is redirected and
# browsers are told to use HTTPS only (HSTS). The health checks stay reachable
# over plain HTTP for a load balancer that probes that way.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^readyz/$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (and
# strips any the client sent), TRUST_PROXY=true makes Django believe it;
# never set it when clients reach Django directly, as they could forge it.
TRUST_PROXY = env_bool("TRUST_PROXY", default=False)
if TRUST_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts, styles, images, fonts and
# requests from this site only; no inline script, handler or style attribute
# (static/js/boussole.js does what they did). htmx's own indicator <style> is
# turned off in base.html (boussole.css has its rules). The API reference
# pages add inline styles for their vendored renderers only (api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 403 is logged as one warning line, without a traceback.
    "filters": {"no_403_traceback": {"()": "config.middleware.PermissionDeniedLogFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["no_403_traceback"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
