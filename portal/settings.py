"""Settings for Ops Market, read from the environment (SPEC section 8).

With no variable set the portal runs on embedded defaults: SQLite, local market
storage, the database search backend and a Celery worker on kombu's filesystem
transport, all inside PORTAL_DATA_DIR. One variable switches each integration on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_bool,
    env_cidrs,
    env_int,
    env_kafka_servers,
    env_kafka_topic,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

TESTING = "pytest" in sys.modules or env_bool("PORTAL_TESTING", False)

# The test suite keeps its files apart from a developer's running portal.
_default_data_dir = BASE_DIR / "var" / ("test" if TESTING else "")
DATA_DIR = Path(env_str("PORTAL_DATA_DIR", str(_default_data_dir))).resolve()
if TESTING and os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel test workers each get a data folder of their own: markets, the
    # package cache and the queue folder are shared state otherwise.
    DATA_DIR = DATA_DIR / os.environ["PYTEST_XDIST_WORKER"]
DATA_DIR.mkdir(parents=True, exist_ok=True)

# --- core -------------------------------------------------------------------

DEBUG = env_bool("DEBUG", True)

if DEBUG:
    # Development only: a fixed key is fine because nothing here is a secret.
    SECRET_KEY = env_str("SECRET_KEY") or "dev-only-insecure-key-change-me-0123456789abcdefghij"
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
else:
    SECRET_KEY = env_str("SECRET_KEY")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to at least 50 characters when DEBUG is off"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "portal",
    "market",
    "deployments",
    "search",
    "builds",
    "telemetry",
    "notifications",
]

MIDDLEWARE = [
    # First: its histogram times everything below it, refusals included.
    "portal.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "portal.middleware.RefuseNulInAddressMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "notifications.context.unread_notifications",
            ],
            "builtins": ["portal.templatetags.ui"],
        },
    }
]

# --- database ---------------------------------------------------------------

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "portal.sqlite3"),
            # The web server and the worker share the file: wait instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, worker queue ----------------------------------------------------

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            # Short timeouts: with Redis down a page waits half a second, not a minute.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    # The file cache is shared by the web server and the worker, which the rate
    # limiter needs; locmem would give each process its own counters.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
    # A filesystem transport: a real broker between separate web and worker
    # processes with nothing to install. Messages are files in the data folder,
    # so queued work survives a restart of either process. portal.broker, not
    # kombu's own transport, whose consumers can read a message before it is
    # written and then stop the worker (kombu issue 1551).
    QUEUE_DIR = DATA_DIR / "queue"
    for _sub in ("messages", "processed", "control", "claimed", "quarantine"):
        (QUEUE_DIR / _sub).mkdir(parents=True, exist_ok=True)
    # The host part means nothing to this transport; naming one stops kombu
    # warning "No hostname was supplied" at every connection.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(QUEUE_DIR / "messages"),
        "data_folder_out": str(QUEUE_DIR / "messages"),
        "processed_folder": str(QUEUE_DIR / "processed"),
        "store_processed": False,
        # Renamed into on claim (same file system as messages/, so a claim is atomic).
        "claimed_folder": str(QUEUE_DIR / "claimed"),
        # Messages that do not decode, kept for a look instead of stopping the worker.
        "quarantine_folder": str(QUEUE_DIR / "quarantine"),
        # The exchange tables; kombu's default is ./control in the working directory,
        # which two data folders would share.
        "control_folder": str(QUEUE_DIR / "control"),
    }

# Tests of services without a worker may run tasks inline; lifecycle tests run real workers.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = False  # opted into per idempotent task
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connections before and after every task
# unless this is set: a new PostgreSQL connection per task (a backend process and an
# authentication, several milliseconds of CPU on both ends, most of the cost of a
# short task). Workers keep them as a web request does instead (portal.celery:
# CONN_MAX_AGE, closed when unusable); the fixup closes them every this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The queue market syncs and app details fetches are sent to: the default one,
# unless syncs get dedicated workers (`celery -A portal worker -Q <name>`), so a
# cold sync of a large market never holds up operations.
MARKET_SYNC_QUEUE = env_str("MARKET_SYNC_QUEUE", "celery")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "market-sync-all": {
        "task": "market.tasks.market_sync_all_task",
        "schedule": env_int("MARKET_SYNC_INTERVAL_SECONDS", 300, minimum=10),
        "options": {"queue": MARKET_SYNC_QUEUE},
    },
    # Indexes what could not be indexed when it changed (search server down, lost
    # message) and drops indexes that rebuilds left behind.
    "search-repair": {
        "task": "search.tasks.search_repair_task",
        "schedule": env_int("SEARCH_REPAIR_INTERVAL_SECONDS", 60, minimum=5),
    },
}

# A running sync writes a heartbeat this often. The repair task (every
# MARKET_SYNC_REPAIR_INTERVAL_SECONDS) sends again a queued job whose message is
# older than the stale age (a lost message) and queues again a running one whose
# heartbeat is (a lost worker: sync is incremental, so the next try goes on from
# what was stored); a job that lost its worker MARKET_SYNC_MAX_ATTEMPTS times fails.
MARKET_SYNC_HEARTBEAT_SECONDS = env_int("MARKET_SYNC_HEARTBEAT_SECONDS", 5, minimum=1)
MARKET_SYNC_STALE_SECONDS = env_int("MARKET_SYNC_STALE_SECONDS", 60, minimum=2)
MARKET_SYNC_MAX_ATTEMPTS = env_int("MARKET_SYNC_MAX_ATTEMPTS", 3, minimum=1)
if MARKET_SYNC_STALE_SECONDS <= MARKET_SYNC_HEARTBEAT_SECONDS:
    # Every running sync would look dead between two beats and be run twice.
    raise ImproperlyConfigured(
        "MARKET_SYNC_STALE_SECONDS must be more than MARKET_SYNC_HEARTBEAT_SECONDS"
    )
# One sync of one market; past it the sync stops with an error on the job and the
# market, keeping what it stored. A cold sync of thousands of apps over a slow link
# is minutes, not hours.
MARKET_SYNC_TIME_LIMIT_SECONDS = env_int("MARKET_SYNC_TIME_LIMIT_SECONDS", 1800, minimum=30)
CELERY_BEAT_SCHEDULE["market-sync-repair"] = {
    "task": "market.tasks.market_sync_repair_task",
    "schedule": env_int("MARKET_SYNC_REPAIR_INTERVAL_SECONDS", 30, minimum=1),
    "options": {"queue": MARKET_SYNC_QUEUE},
}

# Signed markets (SPEC 14): how long a signature over market.json holds, and how
# long a root.json does. The resign task (every MARKET_RESIGN_INTERVAL_SECONDS)
# signs market.json again once fewer than MARKET_RESIGN_DAYS remain, and renews
# root.json the same way, so a live market never expires; a frozen one (its
# publisher gone, or a mirror replaying old files) does, and subscribers refuse it.
MARKET_SIGNATURE_DAYS = env_int("MARKET_SIGNATURE_DAYS", 30, minimum=1)
MARKET_ROOT_DAYS = env_int("MARKET_ROOT_DAYS", 365, minimum=1)
MARKET_RESIGN_DAYS = env_int("MARKET_RESIGN_DAYS", 10, minimum=0)
if MARKET_RESIGN_DAYS >= MARKET_SIGNATURE_DAYS:
    # Every market would be signed again at every run of the task.
    raise ImproperlyConfigured("MARKET_RESIGN_DAYS must be less than MARKET_SIGNATURE_DAYS")
CELERY_BEAT_SCHEDULE["market-resign"] = {
    "task": "market.tasks.market_resign_due_task",
    "schedule": env_int("MARKET_RESIGN_INTERVAL_SECONDS", 3600, minimum=60),
    "options": {"queue": MARKET_SYNC_QUEUE},
}

# --- deployments: install workflows -------------------------------------------

# A running operation's worker writes a heartbeat this often; one whose heartbeat
# is older than the stale age is presumed dead, and the reaper resumes it (up to
# the attempt limit, then fails it and undoes what it applied).
WORKFLOW_HEARTBEAT_SECONDS = env_int("WORKFLOW_HEARTBEAT_SECONDS", 5, minimum=1)
WORKFLOW_STALE_SECONDS = env_int("WORKFLOW_STALE_SECONDS", 60, minimum=2)
WORKFLOW_MAX_ATTEMPTS = env_int("WORKFLOW_MAX_ATTEMPTS", 3, minimum=1)
# Transient failures (target or storage unreachable) retry with exponential
# backoff starting here, doubling up to the maximum, this many times before the
# operation fails. They are counted apart from lost workers (the attempt limit):
# an outage waited out is no sign of a dying worker.
WORKFLOW_RETRY_BACKOFF_SECONDS = env_int("WORKFLOW_RETRY_BACKOFF_SECONDS", 5, minimum=1)
WORKFLOW_RETRY_BACKOFF_MAX_SECONDS = env_int("WORKFLOW_RETRY_BACKOFF_MAX_SECONDS", 300, minimum=1)
WORKFLOW_MAX_RETRIES = env_int("WORKFLOW_MAX_RETRIES", 5, minimum=0)
# The queue operations are sent to: the default one, unless workflows get
# dedicated workers (`celery -A portal worker -Q <name>`).
WORKFLOW_QUEUE = env_str("WORKFLOW_QUEUE", "celery")
CELERY_BEAT_SCHEDULE["operations-reap"] = {
    "task": "deployments.tasks.operations_reap_task",
    "schedule": env_int("WORKFLOW_REAP_INTERVAL_SECONDS", 30, minimum=1),
    "options": {"queue": WORKFLOW_QUEUE},
}

# --- deployments: Kubernetes clusters (SPEC section 9) --------------------------

# Connect and read timeout of each request to a cluster's API server.
CLUSTER_TIMEOUT_SECONDS = env_int("CLUSTER_TIMEOUT_SECONDS", 10, minimum=1)
# How often every cluster is checked (reachable, version, rights); the pages and the
# API show the latest check.
CELERY_BEAT_SCHEDULE["clusters-check"] = {
    "task": "deployments.tasks.clusters_check_task",
    "schedule": env_int("CLUSTER_CHECK_INTERVAL_SECONDS", 60, minimum=10),
}

# How old the live state of an instance on a cluster may get (SPEC section 9): the
# beat looks at every namespace this often; a page or API call with ?refresh=1 looks
# at once.
LIVE_REFRESH_SECONDS = env_int("LIVE_REFRESH_SECONDS", 60, minimum=5)
CELERY_BEAT_SCHEDULE["live-refresh"] = {
    "task": "deployments.tasks.live_refresh_all_task",
    "schedule": LIVE_REFRESH_SECONDS,
}

# --- telemetry: the Kafka metrics stream, the portal's own /metrics (SPEC 10, 13) ---

# Brokers of the metrics stream ("host:port,host:port"); unset: no stream.
KAFKA_BOOTSTRAP_SERVERS = env_kafka_servers("KAFKA_BOOTSTRAP_SERVERS")
KAFKA_METRICS_TOPIC = env_kafka_topic("KAFKA_METRICS_TOPIC", "opsmarket-metrics")
# How long a sample may wait for Kafka (queued, retried, in flight) before it is
# dropped and counted: five minutes bridges a broker restart or a short outage;
# past it the scraper keeps going and the stream loses what is older.
KAFKA_MESSAGE_TIMEOUT_SECONDS = env_int("KAFKA_MESSAGE_TIMEOUT_SECONDS", 300, minimum=1)
# The bound of each process's send queue, in messages (each about 0.5 KiB of JSON):
# a sample that finds it full is dropped at once, never waited for.
KAFKA_QUEUE_MAX_MESSAGES = env_int("KAFKA_QUEUE_MAX_MESSAGES", 100_000, minimum=1)
# Each producing process writes its counters (delivered, dropped, backlog) to the
# database this often, so that /healthz and /metrics in any process see them all.
# 0: never (the tests report by hand).
KAFKA_REPORT_INTERVAL_SECONDS = env_int("KAFKA_REPORT_INTERVAL_SECONDS", 10, minimum=0)
# Addresses that may read /metrics without a token; an empty value allows none.
METRICS_ALLOW_FROM = (
    env_cidrs("METRICS_ALLOW_FROM")
    if "METRICS_ALLOW_FROM" in os.environ
    else ["127.0.0.0/8", "::1/128"]
)

# --- instance metrics (SPEC sections 10 and 13) ------------------------------------

# Exporters of instances on Kubernetes targets are found and scraped this often;
# each scrape may take the timeout and read at most METRICS_MAX_BYTES (a larger body
# marks the target down).
METRICS_SCRAPE_INTERVAL_SECONDS = env_int("METRICS_SCRAPE_INTERVAL_SECONDS", 30, minimum=5)
METRICS_SCRAPE_TIMEOUT_SECONDS = env_int("METRICS_SCRAPE_TIMEOUT_SECONDS", 10, minimum=1)
METRICS_MAX_BYTES = env_int("METRICS_MAX_BYTES", 10 * 1024**2, minimum=1024)
# Samples are kept this long where the portal stores them (Elasticsearch with
# ELASTICSEARCH_URL, else the database).
METRICS_RETENTION_HOURS = env_int("METRICS_RETENTION_HOURS", 168, minimum=1)
# Exporters scraped at once by one round (threads of the worker running it).
METRICS_SCRAPE_CONCURRENCY = env_int("METRICS_SCRAPE_CONCURRENCY", 16, minimum=1)
# Database backend: points older than this keep one point per
# METRICS_DOWNSAMPLE_SECONDS per series, so SQLite stays small for a week of samples.
METRICS_DOWNSAMPLE_AFTER_HOURS = env_int("METRICS_DOWNSAMPLE_AFTER_HOURS", 6, minimum=1)
METRICS_DOWNSAMPLE_SECONDS = env_int("METRICS_DOWNSAMPLE_SECONDS", 300, minimum=10)
CELERY_BEAT_SCHEDULE["metrics-discover"] = {
    "task": "telemetry.tasks.metrics_discover_task",
    "schedule": METRICS_SCRAPE_INTERVAL_SECONDS,
    # A round that waited longer than an interval in the queue is already stale.
    "options": {"expires": METRICS_SCRAPE_INTERVAL_SECONDS},
}
CELERY_BEAT_SCHEDULE["metrics-scrape"] = {
    "task": "telemetry.tasks.metrics_scrape_task",
    "schedule": METRICS_SCRAPE_INTERVAL_SECONDS,
    "options": {"expires": METRICS_SCRAPE_INTERVAL_SECONDS},
}
CELERY_BEAT_SCHEDULE["metrics-prune"] = {
    "task": "telemetry.tasks.metrics_prune_task",
    "schedule": 600,
}

# --- notifications (issue 15) ------------------------------------------------

# Links in e-mails and webhook bodies point here (no request to take the host from).
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Outgoing mail: Django's SMTP backend on EMAIL_HOST:EMAIL_PORT (a local relay by default).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Ops Market <ops-market@localhost>")
# A delivery that fails (receiver down, SMTP refusing) is tried again after the
# backoff, doubling each time up to the maximum, this many times; then it is failed.
NOTIFY_MAX_RETRIES = env_int("NOTIFY_MAX_RETRIES", 8, minimum=0)
NOTIFY_RETRY_BACKOFF_SECONDS = env_int("NOTIFY_RETRY_BACKOFF_SECONDS", 30, minimum=1)
NOTIFY_RETRY_BACKOFF_MAX_SECONDS = env_int("NOTIFY_RETRY_BACKOFF_MAX_SECONDS", 3600, minimum=1)
# Connect and read timeout of one webhook POST.
NOTIFY_WEBHOOK_TIMEOUT_SECONDS = env_int("NOTIFY_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Webhooks pass the network guard (market.netguard): receivers on loopback or in
# private ranges need this on.
NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK = env_bool("NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK", False)
# Largest JSON body of one event (what a market's advisory text can make it).
NOTIFY_MAX_PAYLOAD_BYTES = env_int("NOTIFY_MAX_PAYLOAD_BYTES", 16 * 1024, minimum=1024)
# The queue deliveries are sent to.
NOTIFY_QUEUE = env_str("NOTIFY_QUEUE", "celery")
# Deployed instances are looked at this often for new versions, advisories and
# yanked versions; the same round emits what a lost message left of failed operations.
CELERY_BEAT_SCHEDULE["notifications-scan"] = {
    "task": "notifications.tasks.notifications_scan_task",
    "schedule": env_int("NOTIFY_SCAN_INTERVAL_SECONDS", 600, minimum=10),
}
# Sends again deliveries whose message was lost (due longer than the grace).
NOTIFY_REPAIR_GRACE_SECONDS = env_int("NOTIFY_REPAIR_GRACE_SECONDS", 120, minimum=5)
CELERY_BEAT_SCHEDULE["notifications-repair"] = {
    "task": "notifications.tasks.notifications_repair_task",
    "schedule": env_int("NOTIFY_REPAIR_INTERVAL_SECONDS", 60, minimum=5),
}

# --- search -----------------------------------------------------------------

ELASTICSEARCH_URL = env_str("ELASTICSEARCH_URL")
SEARCH_BACKEND = "elasticsearch" if ELASTICSEARCH_URL else "database"
SEARCH_INDEX_PREFIX = env_str("SEARCH_INDEX_PREFIX", "opsmarket")
# A search that Elasticsearch has not answered by then is answered from the database.
SEARCH_TIMEOUT_MS = env_int("SEARCH_TIMEOUT_MS", 2000, minimum=100)

# --- storage ----------------------------------------------------------------

MARKETS_DIR = DATA_DIR / "markets"
PACKAGE_CACHE_DIR = DATA_DIR / "package-cache"
PACKAGE_CACHE_MAX_BYTES = env_int("PACKAGE_CACHE_MAX_BYTES", 2 * 1024**3, minimum=1024**2)
GITOPS_DIR = DATA_DIR / "gitops"
# Pushed after every commit when set; we must be the remote branch's only writer.
GITOPS_REMOTE_URL = env_str("GITOPS_REMOTE_URL") or None
# Fault tests only: the GitOps target sleeps this long between writing an
# instance's files and committing them, so a test can kill the worker there.
GITOPS_FAULT_PAUSE_BEFORE_COMMIT = float(env_str("OPSMARKET_FAULT_PAUSE_BEFORE_COMMIT") or 0)
GITOPS_REMOTE_URL = env_str("GITOPS_REMOTE_URL") or None  # pushed after every commit when set
GITOPS_FAULT_PAUSE_BEFORE_COMMIT = float(env_str("OPSMARKET_FAULT_PAUSE_BEFORE_COMMIT") or 0)

# Package limits (SPEC section 2); settings so an operator can tighten them.
PACKAGE_MAX_MEMBERS = env_int("PACKAGE_MAX_MEMBERS", 1000, minimum=1)
PACKAGE_MAX_TOTAL_BYTES = env_int("PACKAGE_MAX_TOTAL_BYTES", 100 * 1024**2, minimum=1)
PACKAGE_MAX_FILE_BYTES = env_int("PACKAGE_MAX_FILE_BYTES", 10 * 1024**2, minimum=1)
PACKAGE_MAX_RATIO = env_int("PACKAGE_MAX_RATIO", 100, minimum=1)
# Largest compressed upload accepted (413 above it).
PACKAGE_MAX_ARCHIVE_BYTES = env_int("PACKAGE_MAX_ARCHIVE_BYTES", 50 * 1024**2, minimum=1024)
# Template rendering limits (SPEC section 11): a render past either is refused with
# code render_limit. Rendering runs in a child process bounded by these
# (market.package.render_limits).
RENDER_TIMEOUT_SECONDS = env_int("RENDER_TIMEOUT_SECONDS", 10, minimum=1)
RENDER_MAX_BYTES = env_int("RENDER_MAX_BYTES", 20 * 1024**2, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024**2

# --- intranet builds (SPEC section 7) ------------------------------------------

BUILDS_DIR = DATA_DIR / "builds"
# Resource variables: the environment variables of SREWorks' build.sh. The
# defaults are build.sh's own (NPM_REGISTRY_URL has none there: the public npm
# registry); public addresses, so a strict build never allows them implicitly.
# Precedence: default < environment < profile < one build's overrides.
BUILD_RESOURCE_DEFAULTS: dict[str, str] = {
    "SW_PYTHON3_IMAGE": "python:3.9.12-alpine",
    "MIGRATE_IMAGE": "migrate/migrate",
    "MAVEN_IMAGE": "maven:3.8.3-adoptopenjdk-11",
    "GOLANG_IMAGE": "golang:alpine",
    "GOLANG_BUILD_IMAGE": "golang:1.16",
    "DISTROLESS_IMAGE": (
        "sreworks-registry.cn-beijing.cr.aliyuncs.com/mirror/distroless-static:nonroot"
    ),
    "APK_REPO_DOMAIN": "mirrors.tuna.tsinghua.edu.cn",
    "PYTHON_PIP": "http://mirrors.aliyun.com/pypi/simple",
    "GOPROXY": "https://goproxy.cn",
    "MAVEN_SETTINGS_XML": "https://sreworks.oss-cn-beijing.aliyuncs.com/resource/settings.xml",
    "HELM_BIN_URL": "https://abm-storage.oss-cn-zhangjiakou.aliyuncs.com/lib/helm",
    "KUSTOMIZE_BIN_URL": "https://abm-storage.oss-cn-zhangjiakou.aliyuncs.com/lib/kustomize",
    "MINIO_CLIENT_URL": "https://sreworks.oss-cn-beijing.aliyuncs.com/bin/mc-linux-amd64",
    "SREWORKS_BUILTIN_PACKAGE_URL": "https://sreworks.oss-cn-beijing.aliyuncs.com/packages",
    "NPM_REGISTRY_URL": "https://registry.npmjs.org",
}
# The ones set in this process's environment (an empty value counts as unset).
BUILD_RESOURCE_ENVIRONMENT: dict[str, str] = {
    name: env_str(name) for name in BUILD_RESOURCE_DEFAULTS if env_str(name).strip()
}
# Hosts every strict build may name, besides those of its resource values (other
# than build.sh defaults) and of its profile's list. Comma-separated;
# "*.corp.example" matches subdomains.
BUILD_ALLOWED_HOSTS = env_list("BUILD_ALLOWED_HOSTS")
# Git sources over http(s) pass the market network guard; an intranet git server
# (a private address) needs this on.
BUILD_GIT_ALLOW_PRIVATE_NETWORK = env_bool("BUILD_GIT_ALLOW_PRIVATE_NETWORK", False)
BUILD_GIT_TIMEOUT_SECONDS = env_int("BUILD_GIT_TIMEOUT_SECONDS", 300, minimum=1)
# The repair task re-queues builds queued this long (a lost message) and fails
# builds running this long (a lost worker).
BUILD_REQUEUE_AFTER_SECONDS = env_int("BUILD_REQUEUE_AFTER_SECONDS", 600, minimum=10)
BUILD_TIMEOUT_SECONDS = env_int("BUILD_TIMEOUT_SECONDS", 3600, minimum=60)
CELERY_BEAT_SCHEDULE["builds-repair"] = {
    "task": "builds.tasks.builds_repair_task",
    "schedule": env_int("BUILD_REPAIR_INTERVAL_SECONDS", 300, minimum=10),
}
# An offline bundle holds many packages: its own, larger limits.
BUNDLE_MAX_MEMBERS = env_int("BUNDLE_MAX_MEMBERS", 20000, minimum=1)
BUNDLE_MAX_TOTAL_BYTES = env_int("BUNDLE_MAX_TOTAL_BYTES", 4 * 1024**3, minimum=1)

# Key for secrets stored in the database (portal/crypto.py); derived from
# SECRET_KEY when unset. Production should set its own Fernet key.
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY")

# --- auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # PBKDF2's full work factor costs a second per test user on a slow runner.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins and failed token uses allowed per client address per window.
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 10, minimum=1)
AUTH_FAILURE_WINDOW_SECONDS = env_int("AUTH_FAILURE_WINDOW_SECONDS", 300, minimum=1)
# Reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For names the client
# (portal/actors.py client_ip). Unset: REMOTE_ADDR is the client, and the header
# is ignored, since anyone can write it.
TRUSTED_PROXIES = env_cidrs("TRUSTED_PROXIES")

# --- REST API ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_METADATA_CLASS": "portal.api.metadata.PortalMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ops Market API",
    "DESCRIPTION": "Browse, publish, install and search ops apps.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "portal.models.Role",
        "InstanceStatusEnum": "deployments.models.InstanceStatus",
        "OperationStateEnum": "deployments.models.OperationState",
        "StepStateEnum": "deployments.models.StepState",
        "BuildStateEnum": "builds.models.Build.State",
        "TokenStatusEnum": "portal.api.tokens.TOKEN_STATUSES",
        "NotificationEventKindEnum": "notifications.models.EventKind",
        "NotificationChannelEnum": "notifications.models.Channel",
    },
}

# --- i18n, static -----------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# WhiteNoise warns at every new request handler (each test client) while the folder
# is missing, as it is in a fresh data folder before the first collectstatic.
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- security ---------------------------------------------------------------

CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-less meta tag
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CSRF_FAILURE_VIEW = "portal.views.shell.csrf_failure"
# Self only, nothing inline (portal/middleware.py): templates hold no <script> or
# <style> bodies, no on* handlers and no style attributes; htmx runs with
# allowEval off and its indicator styles in portal.css. data: images are the
# inline SVG icons of the API docs page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# The portal sits behind TLS in production. Only the run command's loopback
# server (scripts/run-env.sh) turns this off, to run with DEBUG off over http.
PORTAL_TLS = env_bool("PORTAL_TLS", True)
if not DEBUG and PORTAL_TLS:
    # A proxy that terminates TLS must set X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- logging ----------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
