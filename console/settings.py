"""Settings for the Pipeline Ops Console, read from the environment only.

Two modes (README "Modes"): embedded (no REDIS_URL: SQLite file, in-memory broker and channel
layer, everything in one process) and production (DATABASE_URL on PostgreSQL, REDIS_URL for
broker, channel layer and cache, separate daphne / celery worker / celery beat processes).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files (SQLite database, beat schedule, collected static); tests point it elsewhere.
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# Only usable with DEBUG on; with DEBUG off the process refuses to start on it (below).
INSECURE_SECRET_KEY = "django-insecure-pipeline-ops-console-development-only"
SECRET_KEY = env_str("SECRET_KEY", INSECURE_SECRET_KEY)
if not DEBUG and (SECRET_KEY == INSECURE_SECRET_KEY or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY is unset or insecure while DEBUG is off: set SECRET_KEY to a long random "
        "value (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# HTTPS: on by default whenever DEBUG is off; the embedded `make run` on plain http://localhost
# turns it off explicitly.
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Absolute session lifetime: a working day plus an overtime margin.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
# Inactivity timeout (ASVS 7.3.1), minutes; 0 turns it off. Page loads and actions count as
# activity; live refreshes and polls do not, so a page left open still signs out.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 60)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "guardian",
    "axes",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "console",
    "monitoring",
    "incidents",
    "changes",
    "shifts",
    "reports",
]

MIDDLEWARE = [
    "console.middleware.RequestContextMiddleware",
    "console.metrics.RequestMetricsMiddleware",
    "console.middleware.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "console.middleware.IdleTimeoutMiddleware",
    "console.middleware.ConsoleLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
                "shifts.context_processors.on_call",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'console.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode writes from the web server's and the worker's threads at once: WAL lets
    # readers go on during a write, IMMEDIATE takes the write lock at BEGIN so two writers queue
    # on busy_timeout instead of failing with "database is locked" half-way through.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_console.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer and cache -------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Degrades to a miss while Redis is away, so pages still load (console/cache.py).
            "BACKEND": "console.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs instead of refusing must not hold a request for long.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py >= 8.1 caps an async pool at 100 connections; a burst of sockets
                # needs more (issue 2, "Live plumbing").
                "hosts": [{"address": REDIS_URL, "max_connections": 2000}],
                # channels-redis drops messages past `capacity` and logs it only at INFO; a
                # generous capacity plus per-topic sequence numbers (console/live.py) make any
                # loss visible to the page, which then re-syncs.
                "capacity": 1500,
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # In-memory layer and broker only reach within one process: the embedded mode runs Daphne,
    # the Celery worker and beat in one process (console/embedded.py) for exactly this reason.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"

# --- Celery ---------------------------------------------------------------------------------
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Proves beat -> broker -> worker end to end; /readyz reports its age.
    "record-heartbeat": {
        "task": "console.tasks.record_heartbeat",
        "schedule": float(env_int("HEARTBEAT_INTERVAL", 15)),
    },
    # Incident clocks: escalations, breaches, notification deliveries (issue 5: 5-15 s).
    "scan-incident-timers": {"task": "incidents.tasks.scan_incident_timers", "schedule": 10.0},
    # Finds escalations overdue but not fired, fires them, stamps its heartbeat.
    "watchdog-incident-escalations": {
        "task": "incidents.tasks.watchdog_incident_escalations",
        "schedule": 60.0,
    },
    # Polls are claimed by a due-time scan; each module's own interval decides when it is due.
    # `expires`: a scan that waited longer than its period is stale; the next one replaces it.
    "scan-module-polls": {
        "task": "monitoring.tasks.scan_module_polls",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    "evaluate-system-thresholds": {
        "task": "monitoring.tasks.evaluate_system_thresholds",
        "schedule": 5.0,
        "options": {"expires": 10},
    },
    # Prometheus's default evaluation interval; 001 gives none.
    "evaluate-alert-rules": {
        "task": "monitoring.tasks.evaluate_alert_rules",
        "schedule": 15.0,
        "options": {"expires": 30},
    },
    # Alert groups due a flush (group_wait / group_interval / repeat_interval; issue 6).
    "scan-alert-groups": {
        "task": "monitoring.tasks.scan_alert_groups",
        "schedule": 5.0,
        "options": {"expires": 10},
    },
    "scan-expiring-silences": {
        "task": "monitoring.tasks.scan_expiring_silences",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    "roll-up-samples": {"task": "monitoring.tasks.roll_up_samples", "schedule": 60.0},
    # Batch jobs (issue 10): due slots claimed every second (schedule → trigger p95 ≤ 2 s).
    "scan-jobs": {"task": "monitoring.tasks.scan_jobs", "schedule": 1.0, "options": {"expires": 5}},
    "prune-samples": {"task": "monitoring.tasks.prune_samples", "schedule": 3600.0},
    # Change management (issue 8): emergency formal-request and review deadlines; config drift.
    "scan-change-timers": {"task": "changes.tasks.scan_change_timers", "schedule": 60.0},
    "scan-config-versions": {
        "task": "changes.tasks.scan_config_versions",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    # Maintenance windows (issue 9): start/end at their times (silence on, silence off), the
    # 004 reminders, and recurrences extended to their horizon.
    "scan-maintenance-windows": {
        "task": "changes.tasks.scan_maintenance_windows",
        "schedule": 10.0,
        "options": {"expires": 20},
    },
    "scan-maintenance-reminders": {
        "task": "changes.tasks.scan_maintenance_reminders",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    "generate-maintenance-windows": {
        "task": "changes.tasks.generate_maintenance_windows",
        "schedule": 3600.0,
    },
    # 000 "Pre-Handoff Preparation (15 minutes before shift end)": a reminder at most 30 s late.
    "scan-shift-reminders": {"task": "shifts.tasks.scan_shift_reminders", "schedule": 30.0},
    # Gaps in the on-call rota of the coming two weeks, raised before they happen.
    "scan-rota-gaps": {"task": "shifts.tasks.scan_rota_gaps", "schedule": 900.0},
    # Issue 11: capacity thresholds move over hours; backups are due on the hour at best.
    "scan-capacity-thresholds": {
        "task": "monitoring.tasks.scan_capacity_thresholds",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    "scan-backups": {"task": "monitoring.tasks.scan_backups", "schedule": 60.0},
    "scan-report-mailings": {"task": "reports.tasks.scan_report_mailings", "schedule": 60.0},
}
HEARTBEAT_STALE_AFTER = timedelta(seconds=60)
# A module is UNHEALTHY after this many failed polls in a row (issue 4: configurable).
MONITORING_FAILURES_BEFORE_UNHEALTHY = env_int("MONITORING_FAILURES_BEFORE_UNHEALTHY", 3)
# A silence's author is told this long before it expires (issue 6).
SILENCE_EXPIRY_WARNING = timedelta(minutes=env_int("SILENCE_EXPIRY_WARNING_MINUTES", 15))

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

# Failed logins: locked per (username, address) pair so that nobody can lock an on-call
# engineer out from elsewhere, and only for a cool-off, never for good.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 10))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "console.views.locked_out"
AXES_VERBOSE = False

# --- I18N / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True
CELERY_TIMEZONE = TIME_ZONE

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # No manifest: pages render without a collectstatic step (tests, first start); vendored files
    # carry their version in their names.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Content Security Policy: no inline script anywhere. Plotly sets inline styles. --------
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.api_auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        # DRF's, refusing NUL characters and lone surrogates with a 400.
        "console.parsers.JSONParser",
        "console.parsers.FormParser",
        "console.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "console.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "console.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pipeline Ops Console API",
    "DESCRIPTION": "Operate the Alpha/Beta/Gamma pipeline: incidents, changes, shifts, monitoring.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Names for choice sets whose field names ("kind", "status") other serializers also use.
    "ENUM_NAME_OVERRIDES": {
        "BackupRunKindEnum": "monitoring.models.BackupRun.Kind",
        "BackupRunStatusEnum": "monitoring.models.BackupRun.Status",
        "KindEnum": "monitoring.models.Module.Kind",
        "StatusEnum": "monitoring.models.Status",
    },
}

# --- Guardian -----------------------------------------------------------------------------
ANONYMOUS_USER_NAME = None  # no anonymous guardian user: every page needs a login

# --- Mail -----------------------------------------------------------------------------------
_EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends." + ("console.EmailBackend" if DEBUG else "smtp.EmailBackend"),
)
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND, "OPTIONS": {}}}
if _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": env_str("EMAIL_HOST_USER", ""),
        "password": env_str("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ops-console@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Per-request access lines come from Daphne; keep Django's own quiet.
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # Quiet client libraries: one line per poll request otherwise.
        "aiohttp": {"level": "WARNING"},
        # Beat sends a scan every second: per-task "received/succeeded" lines would drown the
        # terminal. LOG_LEVEL=DEBUG brings them back.
        **{
            name: {"level": "DEBUG" if env_str("LOG_LEVEL", "INFO") == "DEBUG" else "WARNING"}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}
