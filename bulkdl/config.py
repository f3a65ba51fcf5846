"""Settings: the TOML file, then environment variables, then flags, validated into frozen values.

Precedence is flags > environment (`BULKDL_*`) > config file > defaults. The private key is
never read from the TOML in plain text: it comes from `BULKDL_PRIVATE_KEY` or from the file named
by `private_key_file`, and it is wrapped in `Secret` so that no repr, log or traceback shows it.
Every problem is a ConfigError naming the file, key or flag: the run exits 2 before any request.
"""

from __future__ import annotations

import difflib
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from bulkdl.errors import ConfigError
from bulkdl.models import GroupId, group_id, is_object_id
from bulkdl.pacing import RequestBudget
from bulkdl.retry import RetryPolicy

DEFAULT_CONFIG: Final = Path("bulkdl.toml")
ENV_PUBLIC_KEY: Final = "BULKDL_PUBLIC_KEY"
ENV_PRIVATE_KEY: Final = "BULKDL_PRIVATE_KEY"
API_PREFIX: Final = "/api/public/v1.0"


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that must never be printed: repr and str show stars."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a download run needs, validated."""

    base_url: str  # scheme://host[:port][/prefix], no trailing slash, no /api/public/v1.0
    public_key: str
    private_key: Secret
    groups: tuple[GroupId, ...]
    out_dir: Path
    concurrency: int = 8  # archives streaming at once, across all groups
    per_group_concurrency: int = 4  # archives streaming at once from one group
    list_concurrency: int = 8  # groups being listed at once
    connect_timeout_s: float = 15.0
    stall_timeout_s: float = 60.0  # a body that sends nothing for this long is aborted
    ca_file: Path | None = None
    insecure: bool = False
    retries: int = 5  # extra attempts per job or listing after the first
    retry_deadline_s: float = 300.0  # no new attempt of a job starts after this long
    retry_backoff_s: float = 0.5  # first backoff; doubles per attempt, capped at 30 s, jittered
    verify: bool = False  # read each archive through gzip+tar before the rename
    all_groups: bool = False  # every group the key can see (GET /groups)
    org: str | None = None  # narrow discovery to one organization
    group_name: str | None = None  # narrow discovery to names matching this glob
    requests_per_minute: int = 80  # API calls per group per minute (Cloud Manager allows ~100)
    rate_window_s: float = 60.0  # the window requests_per_minute applies to (Cloud Manager: 60)
    poll_interval_s: float = 5.0  # first wait between polls of an IN_PROGRESS job
    # http(s)://[user:pass@]host:port, else HTTPS_PROXY etc.; repr=False: it may hold a password
    proxy: str | None = field(default=None, repr=False)
    min_rate_bytes_s: int = 1024  # a body slower than this over a whole window is retried
    min_rate_window_s: float = 60.0

    def request_budget(self) -> RequestBudget:
        return RequestBudget(self.requests_per_minute, window_s=self.rate_window_s)

    @property
    def discover(self) -> bool:
        """Groups come from the API (all, one org's, or matching a name)."""
        return self.all_groups or self.org is not None or self.group_name is not None

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            deadline_s=self.retry_deadline_s,
            initial_backoff_s=self.retry_backoff_s,
        )

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """What the command line said; None means "not given"."""

    out_dir: Path | None = None
    concurrency: int | None = None
    groups: tuple[str, ...] = ()
    base_url: str | None = None
    insecure: bool = False
    stall_timeout_s: float | None = None
    verify: bool = False
    all_groups: bool = False
    org: str | None = None
    group_name: str | None = None
    proxy: str | None = None


# key -> (expected python types, description used in type errors)
_KEYS: Final[dict[str, tuple[tuple[type, ...], str]]] = {
    "base_url": ((str,), "a string"),
    "public_key": ((str,), "a string"),
    "private_key_file": ((str,), "a path string"),
    "groups": ((list,), "a list of group ids"),
    "out_dir": ((str,), "a path string"),
    "concurrency": ((int,), "an integer"),
    "per_group_concurrency": ((int,), "an integer"),
    "list_concurrency": ((int,), "an integer"),
    "connect_timeout_s": ((int, float), "a number of seconds"),
    "stall_timeout_s": ((int, float), "a number of seconds"),
    "ca_file": ((str,), "a path string"),
    "retries": ((int,), "an integer"),
    "retry_deadline_s": ((int, float), "a number of seconds"),
    "retry_backoff_s": ((int, float), "a number of seconds"),
    "verify": ((bool,), "true or false"),
    "all_groups": ((bool,), "true or false"),
    "org": ((str,), "an organization id"),
    "group_name": ((str,), "a glob such as 'prod-*'"),
    "requests_per_minute": ((int,), "an integer"),
    "poll_interval_s": ((int, float), "a number of seconds"),
    "rate_window_s": ((int, float), "a number of seconds"),
    "proxy": ((str,), "a proxy URL such as 'http://proxy.example:3128'"),
    "min_rate_bytes_s": ((int,), "an integer (bytes per second; 0 turns the check off)"),
    "min_rate_window_s": ((int, float), "a number of seconds"),
}


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the TOML file; errors name the file (and line, as tomllib reports it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist", hint="pass --config FILE or create bulkdl.toml"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    _check_keys(path, doc)
    return doc


def _check_keys(path: Path, doc: dict[str, Any]) -> None:
    for key, value in doc.items():
        if key == "private_key":
            raise ConfigError(
                f"config file {path}: private_key must not be stored in the config file",
                hint=f"set {ENV_PRIVATE_KEY} or point private_key_file at a file only you can read",
            )
        if key not in _KEYS:
            near = difflib.get_close_matches(key, _KEYS, n=1)
            raise ConfigError(
                f"config file {path}: unknown key {key!r}",
                hint=f"did you mean {near[0]!r}?" if near else "see config.example.toml",
            )
        types, what = _KEYS[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"config file {path}: {key} must be {what}, got {value!r}")


def load_settings(
    config_path: Path | None,
    env: Mapping[str, str],
    overrides: Overrides,
    *,
    need_out_dir: bool = True,
) -> Settings:
    """Combine file, environment and flags into Settings, or raise ConfigError."""
    if config_path is None and DEFAULT_CONFIG.is_file():
        config_path = DEFAULT_CONFIG
    doc = read_config_file(config_path) if config_path is not None else {}
    where = f"config file {config_path}" if config_path is not None else "settings"
    base_dir = config_path.parent if config_path is not None else Path.cwd()

    base_url = normalise_base_url(overrides.base_url or doc.get("base_url"), where)
    public_key = env.get(ENV_PUBLIC_KEY) or doc.get("public_key")
    if not public_key:
        raise ConfigError(
            "no public API key", hint=f"set {ENV_PUBLIC_KEY} or public_key in the config file"
        )
    private_key = _private_key(env, doc.get("private_key_file"), base_dir, where)

    raw_groups: list[Any] = list(overrides.groups) or list(doc.get("groups", []))
    all_groups = overrides.all_groups or bool(doc.get("all_groups", False))
    org = overrides.org or doc.get("org")
    if org is not None and not is_object_id(org):
        raise ConfigError(f"{'--org' if overrides.org else where}: org id {org!r} is not 24 hex")
    group_name = overrides.group_name or doc.get("group_name")
    if not raw_groups and not (all_groups or org or group_name):
        raise ConfigError(
            "no groups to work on",
            hint="pass --group ID or --all-groups, or set groups = [...] or all_groups = true",
        )
    groups: list[GroupId] = []
    for raw in raw_groups:
        try:
            gid = group_id(raw if isinstance(raw, str) else repr(raw))
        except ValueError as exc:
            source = "--group" if overrides.groups else where
            raise ConfigError(f"{source}: {exc}") from None
        if gid not in groups:
            groups.append(gid)

    out = overrides.out_dir or (_resolve(base_dir, doc["out_dir"]) if "out_dir" in doc else None)
    if out is None and need_out_dir:
        raise ConfigError("no output directory", hint="pass --out DIR or set out_dir")

    ca_file = _resolve(base_dir, doc["ca_file"]) if "ca_file" in doc else None
    settings = Settings(
        base_url=base_url,
        public_key=str(public_key),
        private_key=private_key,
        groups=tuple(groups),
        out_dir=out or Path.cwd(),  # commands that write nothing have no use for it
        concurrency=(
            overrides.concurrency
            if overrides.concurrency is not None
            else doc.get("concurrency", 8)
        ),
        per_group_concurrency=doc.get("per_group_concurrency", 4),
        list_concurrency=doc.get("list_concurrency", 8),
        connect_timeout_s=float(doc.get("connect_timeout_s", 15.0)),
        stall_timeout_s=float(
            overrides.stall_timeout_s
            if overrides.stall_timeout_s is not None
            else doc.get("stall_timeout_s", 60.0)
        ),
        ca_file=ca_file,
        insecure=overrides.insecure,
        retries=doc.get("retries", 5),
        retry_deadline_s=float(doc.get("retry_deadline_s", 300.0)),
        retry_backoff_s=float(doc.get("retry_backoff_s", 0.5)),
        verify=overrides.verify or doc.get("verify", False),
        all_groups=all_groups,
        org=org,
        group_name=group_name,
        requests_per_minute=doc.get("requests_per_minute", 80),
        poll_interval_s=float(doc.get("poll_interval_s", 5.0)),
        rate_window_s=float(doc.get("rate_window_s", 60.0)),
        proxy=check_proxy(
            overrides.proxy or doc.get("proxy"), "--proxy" if overrides.proxy else where
        ),
        min_rate_bytes_s=doc.get("min_rate_bytes_s", 1024),
        min_rate_window_s=float(doc.get("min_rate_window_s", 60.0)),
    )
    check_limits(settings, flag_concurrency=overrides.concurrency is not None, where=where)
    return settings


def check_limits(settings: Settings, *, flag_concurrency: bool, where: str) -> None:
    """Every count and timeout must be positive; the message names the key or flag."""
    for name in ("concurrency", "per_group_concurrency", "list_concurrency", "requests_per_minute"):
        value = getattr(settings, name)
        if value < 1:
            source = "--concurrency" if name == "concurrency" and flag_concurrency else where
            raise ConfigError(f"{source}: {name} must be at least 1, got {value}")
    for name in (
        "connect_timeout_s",
        "stall_timeout_s",
        "retry_deadline_s",
        "retry_backoff_s",
        "poll_interval_s",
        "rate_window_s",
        "min_rate_window_s",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{where}: {name} must be positive")
    if settings.retries < 0:
        raise ConfigError(f"{where}: retries must be 0 or more, got {settings.retries}")
    if settings.min_rate_bytes_s < 0:
        raise ConfigError(f"{where}: min_rate_bytes_s must be 0 (off) or more")


def check_proxy(raw: str | None, where: str) -> str | None:
    """A proxy URL (http or https, with a host); its credentials are never echoed back."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"{where}: proxy must be an http(s)://host:port URL",
            hint="e.g. http://proxy.example:3128 (credentials as http://user:pass@host:port)",
        )
    return raw.strip()


def normalise_base_url(raw: object, where: str) -> str:
    """Accept `https://host[:port][/prefix]` (with or without /api/public/v1.0)."""
    if not raw:
        raise ConfigError(
            "no base_url",
            hint="set base_url (https://cloud.mongodb.com or your Ops Manager URL) or --base-url",
        )
    url = str(raw).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: base_url {url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ConfigError(f"{where}: base_url must not carry credentials")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


def _resolve(base_dir: Path, raw: object) -> Path:
    """A path from the config file: `~` expanded, relative to the file's folder."""
    return base_dir / Path(str(raw)).expanduser()


def _private_key(env: Mapping[str, str], key_file: object, base_dir: Path, where: str) -> Secret:
    if env.get(ENV_PRIVATE_KEY):
        return Secret(env[ENV_PRIVATE_KEY])
    if not key_file:
        raise ConfigError(
            "no private API key",
            hint=f"set {ENV_PRIVATE_KEY} or private_key_file in the config file",
        )
    path = _resolve(base_dir, key_file)
    try:
        st = path.stat()
    except OSError:
        raise ConfigError(f"{where}: private_key_file {path} does not exist") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Refuse, as ssh does with a world-readable key: the key grants access to every project.
        raise ConfigError(
            f"{where}: private_key_file {path} is readable by other users",
            hint=f"chmod 600 {path}",
        )
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{where}: private_key_file {path} cannot be read") from None
    if not value:
        raise ConfigError(f"{where}: private_key_file {path} is empty")
    return Secret(value)


def env_snapshot() -> dict[str, str]:
    """The environment variables bulkdl reads, nothing else."""
    return {k: v for k, v in os.environ.items() if k in (ENV_PUBLIC_KEY, ENV_PRIVATE_KEY)}
