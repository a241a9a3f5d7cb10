"""One settings module, configured from the environment (12-factor).

Local defaults point at PostgreSQL and Redis on 127.0.0.1 so `make test` works on a developer machine;
production sets DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=false.
"""

import datetime as dt
import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# A development key is accepted only with DEBUG on; production must set SECRET_KEY (fail fast).
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-key-only-for-debug" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # only for its migrations: keys now live as digests (campaigns.ApiToken)
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "campaigns",
]

MIDDLEWARE = [
    "campaigns.security.RequestSizeLimitMiddleware",  # first: an oversized body is refused before anything reads it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # admin/dashboard static files under gunicorn
    "campaigns.security.SecurityHeadersMiddleware",  # CSP everywhere; /api/: private, no-store, Vary: Authorization
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the dashboard and admin in the browser's language (en, zh-Hans)
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a login lockout into a 429 page
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/robocall")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The interface's languages: English, and Simplified Chinese for zh-CN/zh-Hans browsers. The catalogue is
# locale/zh_Hans/LC_MESSAGES/django.po, compiled to .mo by `make install` (manage.py compilemessages, gettext).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "media/"
# Recordings and uploads; every file lives below MEDIA_ROOT/<tenant id>/...
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# An uploaded file larger than this is streamed to a temporary file in 64 KB chunks by Django's upload handlers
# (a call list is then read from there a block at a time, never whole).
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
CONTACT_UPLOAD_MAX_BYTES = env.int("CONTACT_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
# Any request declaring a larger body is refused (413) before it is read; unset: CONTACT_UPLOAD_MAX_BYTES + 1 MB
# (a call list plus its form's other fields).
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=None)
# Call lists up to this size (about 25,000 rows) are imported inside the request; larger ones in the background.
CONTACT_UPLOAD_SYNC_BYTES = env.int("CONTACT_UPLOAD_SYNC_BYTES", default=1024 * 1024)
# An XLSX export is built whole before it is sent: larger campaigns are pointed to the CSV, which is streamed.
XLSX_EXPORT_MAX_ROWS = env.int("XLSX_EXPORT_MAX_ROWS", default=10_000)  # about 15 s of openpyxl on one core

LOGIN_URL = "admin:login"

# --- Shared cache, client addresses, login lockout ----------------------------------------------------------
# One cache for every web worker and host (API throttles, login-failure counts): Redis, never per-process memory.
# Give it its own Redis database in production (CACHE_URL=redis://host:6379/1): clearing a cache flushes its db.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "robocall",
    }
}
# How many reverse proxies of ours append to X-Forwarded-For in front of the app; 0: the header is ignored and the
# client is REMOTE_ADDR. Used for login lockouts and API throttles (campaigns.security.client_ip).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

AUTHENTICATION_BACKENDS = [
    "campaigns.security.LoginLockoutBackend",  # django-axes: refuses a locked-out username + address first
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"  # failure counts in the shared cache above
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
# A username from one address: an office behind one NAT is not locked out by one colleague's typos, and nobody
# can lock an administrator out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "campaigns.security.client_ip"

# Security headers; TLS termination is the reverse proxy's job, so HTTPS redirects are opt-in.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Our pages load only our own static files: no inline script or style (the dashboard sets bar widths from data-
# attributes in dashboard.js; the API docs load Swagger UI's init script from its own URL). img data: for icons.
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},  # failed logins and lockouts; not every successful login
}

# --- Celery -------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None  # results live in PostgreSQL rows, not in the broker
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close the database connection before and after every task (a new connection per
# dial, per finalize); project.celery applies Django's own rule instead (CONN_MAX_AGE, closed when unusable).
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ("project.celery.route",)  # queues are declared beside each task
CALL_MAX_SECONDS = env.int("CALL_MAX_SECONDS", default=600)
# A dialling worker renews its attempt's lease every third of this; a lease past due means the worker died.
CALL_LEASE_SECONDS = env.int("CALL_LEASE_SECONDS", default=30)
DISPATCH_INTERVAL_SECONDS = env.float("DISPATCH_INTERVAL_SECONDS", default=2.0)
# A call's own database writes (turns, its final result) retry this long while PostgreSQL is unreachable.
DATABASE_RETRY_SECONDS = env.float("DATABASE_RETRY_SECONDS", default=300.0)
# The sweeper re-sends work whose message was lost (a worker killed with it, a Redis restart): a queued attempt
# not claimed within QUEUED_RESEND_SECONDS, an ended one not finalized within it, a webhook pending 15 minutes.
SWEEP_INTERVAL_SECONDS = env.float("SWEEP_INTERVAL_SECONDS", default=15.0)
QUEUED_RESEND_SECONDS = env.float("QUEUED_RESEND_SECONDS", default=60.0)
WEBHOOK_BACKOFF_SECONDS = env.float("WEBHOOK_BACKOFF_SECONDS", default=2.0)
# Trunk passwords and webhook secrets are encrypted at rest (campaigns.fields): Fernet keys, newest first; generate
# one with `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`. Unset, a key
# derived from SECRET_KEY is used (it is always tried last, so `manage.py rotate_field_keys` can move off it).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Webhook URLs may not point at loopback, link-local (cloud metadata), private, reserved or multicast addresses,
# on save and on send (campaigns.netguard); true allows them (a receiver on the same private network).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
CELERY_BEAT_SCHEDULE = {
    "dispatch": {"task": "campaigns.dispatch", "schedule": DISPATCH_INTERVAL_SECONDS},
    "recover-abandoned": {"task": "campaigns.recover_abandoned", "schedule": max(CALL_LEASE_SECONDS / 3, 1)},
    "sweep": {"task": "campaigns.sweep", "schedule": SWEEP_INTERVAL_SECONDS},
}
# The broker re-delivers an unacked task after this; it must outlast the longest call.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CALL_MAX_SECONDS * 3}
# Survive a broker restart: reconnect forever (also at start-up) instead of exiting; messages lost with a Redis
# that keeps nothing on disk are re-sent by the sweeper from PostgreSQL.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT = "project.broker:Transport"  # a worker that outlives a Redis restart (see there)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Telephony and speech --------------------------------------------------------------------------------
# "sip": campaigns dial through their trunk (dry-run campaigns still dial virtual callees);
# "simulated": every campaign dials virtual callees (staging, load tests).
TELEPHONY_PROVIDER = env("TELEPHONY_PROVIDER", default="sip")
RTP_PORT_RANGE = tuple(env.list("RTP_PORT_RANGE", cast=int, default=[20000, 30000]))
# Pace simulated calls in real time (20 ms per frame); off runs them on a virtual clock.
SIMULATOR_REALTIME = env.bool("SIMULATOR_REALTIME", default=False)
# Call detail records of virtual calls (one JSON line per dial start and end), for auditing dry runs.
SIMULATOR_CDR_PATH = Path(env("SIMULATOR_CDR_PATH")) if env("SIMULATOR_CDR_PATH", default="") else None
# Most calls one rehearsal may place (each holds a dial worker for the length of its call, on a virtual clock).
REHEARSAL_MAX_CALLS = env.int("REHEARSAL_MAX_CALLS", default=500)
REHEARSAL_ADMIN_CALLS = env.int("REHEARSAL_ADMIN_CALLS", default=20)  # the admin action's rehearsal size
RING_TIMEOUT_SECONDS = env.int("RING_TIMEOUT_SECONDS", default=30)

TTS_ENGINE = env("TTS_ENGINE", default="piper")  # piper | gtts
TTS_CACHE_DIR = env.path("TTS_CACHE_DIR", default=BASE_DIR / "var" / "tts-cache")
GTTS_TLD = env("GTTS_TLD", default="com")
GTTS_TIMEOUT_SECONDS = env.float("GTTS_TIMEOUT_SECONDS", default=5.0)

ASR_ENGINE = env("ASR_ENGINE", default="whisper")  # whisper | vosk
# Vosk models per language: VOSK_MODELS="en=/srv/vosk/en,ko=/srv/vosk/ko"
VOSK_MODELS = env.dict("VOSK_MODELS", default={})
# Whisper decodes run in an ASR service's decode processes (pipeline/asr_service.py): ASR_PROCESSES of them,
# each on ASR_THREADS cores; a further answer waits for one (asr_wait_ms). ASR_SOCKET: the Unix socket of the
# host's `manage.py asr_service`, shared by every worker on the host (default: one decode process per core);
# empty: each worker process that needs whisper starts its own service, which exits with it (default: one decode
# process, as a prefork worker has several such processes: -c 4 with one per core each held 8 models on 2 cores).
ASR_THREADS = env.int("ASR_THREADS", default=1)
ASR_SOCKET = env("ASR_SOCKET", default="")
ASR_PROCESSES = env.int("ASR_PROCESSES", default=(os.cpu_count() or 1) if ASR_SOCKET else 1)
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", default="US")  # for numbers written without +country
# Personal prompts (`{first_name}`) synthesised ahead for this many of the next contacts to be dialled.
TTS_PRESYNTH_CONTACTS = env.int("TTS_PRESYNTH_CONTACTS", default=50)

# --- REST API (campaigns.api) ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "campaigns.api.authentication.HashedTokenAuthentication",  # first: a 401 names the Token scheme
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["campaigns.api.parsers.JSONParser"],  # bounded size and nesting
    "DEFAULT_PAGINATION_CLASS": "campaigns.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # the throttles' client address (campaigns.security.client_ip)
    "DEFAULT_THROTTLE_CLASSES": [
        "campaigns.api.permissions.AnonThrottle",
        "campaigns.api.permissions.UserThrottle",
        "campaigns.api.permissions.ScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="600/min"),
        "upload": env("API_THROTTLE_UPLOAD", default="60/hour"),
        "export": env("API_THROTTLE_EXPORT", default="120/hour"),
        "lifecycle": env("API_THROTTLE_LIFECYCLE", default="120/hour"),
        "token": env("API_THROTTLE_TOKEN", default="10/min"),
    },
    "EXCEPTION_HANDLER": "campaigns.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "campaigns.api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Campaign robot API",
    "DESCRIPTION": "Outbound phone campaigns. Authenticate with `Authorization: Token <key>`; every path is scoped "
    "to one tenant by its slug, and objects of a tenant you are not a member of answer 404.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,  # multipart upload and read-only fields get their own request schemas
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "ContactStatusEnum": "campaigns.models.Contact.Status",
        "CallStatusEnum": "campaigns.models.CallAttempt.Status",
    },
}

# --- Monitoring (campaigns.metrics) ------------------------------------------------------------------------
# /metrics answers only with `Authorization: Bearer $METRICS_TOKEN`; unset, the endpoint is off (404).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# How long a scrape waits for Celery workers to say which queues they consume.
METRICS_INSPECT_TIMEOUT = env.float("METRICS_INSPECT_TIMEOUT", default=1.0)

# --- Call recordings (campaigns.services.calls writes them, campaigns.recordings converts them) ----------------
# Every call is recorded to a stereo WAV below MEDIA_ROOT/tenant_<id>/ (robot left, callee right). With mp3 or
# ogg (Vorbis), the post-call analysis converts it with pydub + ffmpeg, off the call's path, and the attempt then
# points at the compressed file (the WAV is removed).
RECORDING_FORMAT = env("RECORDING_FORMAT", default="wav")

# --- Checked at start-up: a wrong value stops every process at once, saying what to set -------------------------
_CHOICES = {
    "TELEPHONY_PROVIDER": ("sip", "simulated"),
    "TTS_ENGINE": ("piper", "gtts", "espeak"),
    "ASR_ENGINE": ("whisper", "vosk"),
    "RECORDING_FORMAT": ("wav", "mp3", "ogg"),
}
for _name, _allowed in _CHOICES.items():
    if globals()[_name] not in _allowed:
        raise environ.ImproperlyConfigured(
            f"{_name}={globals()[_name]!r} is not one of: {', '.join(_allowed)} (set it in the environment or .env)."
        )
if ASR_ENGINE == "vosk" and not VOSK_MODELS:
    raise environ.ImproperlyConfigured(
        "ASR_ENGINE=vosk needs VOSK_MODELS, e.g. VOSK_MODELS='en=/srv/vosk/en' (manage.py install_vosk_model)."
    )
if RTP_PORT_RANGE[0] >= RTP_PORT_RANGE[-1] or len(RTP_PORT_RANGE) != 2:
    raise environ.ImproperlyConfigured(f"RTP_PORT_RANGE must be 'low,high' with low < high, not {RTP_PORT_RANGE}.")
