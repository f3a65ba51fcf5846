"""Every setting declared once: the `Settings` fields carry their doc, bounds, env and flag.

Validation, the override layers, `config.example.toml`, the README table and the CLI bounds
checks all read these declarations (`declared`, `flag_spec`), so adding a key is one field here.
Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar

from bulkdl.domain.models import GroupId

T = TypeVar("T")
API_PREFIX: Final = "/api/public/v1.0"
MAX_CONCURRENCY: Final = 1024
_SPEC: Final = "bulkdl.spec"


@dataclass(frozen=True, slots=True)
class Spec:
    """How one setting is given, checked and documented."""

    doc: str  # one line, shown in the README table and config.example.toml
    low: float | None = None  # smallest allowed value (numbers)
    high: float | None = None  # largest allowed value (numbers)
    above: float | None = None  # the value must be strictly greater than this (numbers)
    env: str | None = None  # a BULKDL_* variable that sets it
    flag: str | None = None  # the command-line flag that sets it
    eco: str | None = None  # the mongocli / atlas profile key (and MCLI_* variable) that sets it
    toml: bool = True  # settable in bulkdl's TOML file
    example: object = None  # value shown in config.example.toml (None: commented out)
    shown_default: str | None = None  # the README's default column, when not the value itself
    more: str = ""  # extra comment lines for config.example.toml

    def check_number(self, value: float) -> str | None:
        """Why `value` is out of bounds, or None when it is fine."""
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if self.above is not None and value <= self.above:
            return f"must be more than {_num(self.above)}"
        if self.low is not None and value < self.low:
            return f"must be at least {_num(self.low)}"
        if self.high is not None and value > self.high:
            return f"must be at most {_num(self.high)}"
        return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def key(default: T, doc: str, *, hidden: bool = False, **spec: Any) -> T:
    """A setting with a default; `hidden` keeps it out of repr (it may hold a password)."""
    return field(default=default, repr=not hidden, metadata={_SPEC: Spec(doc, **spec)})


def required(doc: str, **spec: Any) -> Any:
    """A setting with no default: the loader must find it somewhere."""
    return field(metadata={_SPEC: Spec(doc, **spec)})


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that must never be printed: repr and str show stars."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


_POSITIVE_S: Final[dict[str, Any]] = {"above": 0}
_COUNT: Final[dict[str, Any]] = {"low": 1, "high": MAX_CONCURRENCY}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a run needs, validated. Each field is a declared setting (see `Spec`)."""

    base_url: str = required(
        "Cloud Manager (https://cloud.mongodb.com) or your Ops Manager URL; a trailing "
        "/api/public/v1.0 or slash is ignored.",
        env="BULKDL_BASE_URL",
        flag="--base-url",
        eco="ops_manager_url",
        example="https://cloud.mongodb.com",
        shown_default="(required)",
    )
    public_key: str = required(
        "Public half of the API key pair (the digest username).",
        env="BULKDL_PUBLIC_KEY",
        eco="public_api_key",
        example="abcdefgh",
        shown_default="(required)",
    )
    private_key: Secret = required(
        "Private half of the API key pair; never in this file (see private_key_file).",
        env="BULKDL_PRIVATE_KEY",
        eco="private_api_key",
        toml=False,
        shown_default="(required)",
    )
    private_key_file: Path | None = key(
        None,
        "A file holding only the private key; refused if others can read it (chmod 600).",
        example="~/.config/bulkdl/private_key",
        more="A relative path is relative to this config file.",
    )
    groups: tuple[GroupId, ...] = key(
        (),
        "Groups (projects) to pull from: 24-hex ids; --group replaces this list.",
        flag="--group",
        eco="project_id",
        example=["5c8100bcf2a30b12ff88258f"],
        shown_default="(required unless discovering)",
    )
    all_groups: bool = key(
        False, "Every group the key can see (GET /groups).", flag="--all-groups", example=True
    )
    org: str | None = key(
        None,
        "Only the groups of this organization (implies discovery).",
        flag="--org",
        eco="org_id",
        example="5c8100bcf2a30b12ff882500",
    )
    group_name: str | None = key(
        None,
        "Only discovered groups whose name matches this glob.",
        flag="--group-name",
        example="prod-*",
    )
    out_dir: Path = required(
        "Where archives go: OUT/<groupId>/<jobId>.tar.gz plus OUT/manifest.jsonl.",
        flag="--out",
        example="./bulkdl-out",
        shown_default="(required to download)",
        more="A relative path is relative to this config file.",
    )
    concurrency: int = key(
        8, "Archives streaming at once, across all groups.", flag="--concurrency", **_COUNT
    )
    per_group_concurrency: int = key(4, "Archives streaming at once from one group.", **_COUNT)
    list_concurrency: int = key(8, "Groups whose job listings are fetched at once.", **_COUNT)
    connect_timeout_s: float = key(
        15.0, "Seconds to wait for a TCP/TLS connection.", high=3600, **_POSITIVE_S
    )
    stall_timeout_s: float = key(
        60.0,
        "A response that sends no byte for this many seconds is aborted (no total time limit).",
        flag="--stall-timeout",
        high=86400,
        **_POSITIVE_S,
    )
    header_timeout_s: float = key(
        60.0,
        "A response whose status line and headers are not all in after this many seconds is "
        "aborted and retried, however steadily its bytes trickle.",
        high=3600,
        **_POSITIVE_S,
    )
    min_rate_bytes_s: float = key(
        1024.0,
        "A body slower than this many bytes/s over min_rate_window_s is aborted and retried.",
        low=0,
        high=10**9,
    )
    min_rate_window_s: float = key(
        60.0,
        "The window min_rate_bytes_s is measured over, in seconds.",
        high=86400,
        **_POSITIVE_S,
    )
    proxy: str | None = key(
        None,
        "HTTP(S) proxy URL for every request (default: HTTPS_PROXY / HTTP_PROXY / NO_PROXY).",
        flag="--proxy",
        example="http://proxy.example.com:3128",
        hidden=True,
    )
    ca_file: Path | None = key(
        None,
        "A PEM bundle of CAs to trust (an Ops Manager behind a private CA).",
        eco="ops_manager_ca_certificate",
        example="/etc/ssl/certs/opsmanager-ca.pem",
        shown_default="system CAs",
    )
    insecure: bool = key(
        False,
        "Do not verify TLS certificates (warns; prefer ca_file).",
        flag="--insecure",
        eco="ops_manager_skip_verify",
        toml=False,
    )
    retries: int = key(
        5,
        "Retries per job or listing after the first attempt (transient failures only).",
        low=0,
        high=100,
    )
    retry_deadline_s: float = key(
        300.0,
        "No new attempt of a job starts after this many seconds.",
        high=7 * 86400,
        **_POSITIVE_S,
    )
    retry_backoff_s: float = key(
        0.5,
        "First wait between attempts; doubles up to 30 s, full jitter.",
        high=3600,
        **_POSITIVE_S,
    )
    retry_after_max_s: float = key(
        300.0,
        "The longest Retry-After (seconds or an HTTP-date) honoured; a 429 asking for longer "
        "fails at once, naming the wait and when to rerun.",
        high=86400,
        **_POSITIVE_S,
    )
    max_page_bytes: int = key(
        32 * 1024 * 1024,
        "The largest JSON answer (one listing page) read; a larger one fails its group.",
        low=64 * 1024,
        high=2**31,
    )
    allow_http_redirect: bool = key(
        False,
        "Follow a redirect from an https base_url to plain http:// (off: refused, naming it).",
    )
    verify: bool = key(
        False,
        "Read every archive back from disk through gzip (CRC32, length) and every tar header "
        "before keeping it.",
        flag="--verify",
    )
    check_gzip: bool = key(
        False,
        "Check every archive's gzip CRC32 and length as it arrives, without reading it back "
        "(about +13% CPU on the loopback bench; --verify checks this and more).",
    )
    extract_max_ratio: int = key(
        200,
        "--extract refuses an archive whose files would take more than this many times its "
        "size (never less than 1 MiB, never more than the free disk).",
        low=1,
        high=1_000_000,
    )
    requests_per_minute: int = key(
        80,
        "API calls per group per rate_window_s (Cloud Manager allows ~100 a minute).",
        low=1,
        high=100_000,
    )
    rate_window_s: float = key(
        60.0, "The window requests_per_minute applies to, in seconds.", high=3600, **_POSITIVE_S
    )
    poll_interval_s: float = key(
        5.0,
        "With --wait: first wait between polls of a job (grows 1.5x up to 30 s).",
        high=3600,
        **_POSITIVE_S,
    )

    # Where the key halves and the URL came from ("--base-url", "profile 'prod' in F: ..."),
    # for the errors that blame one of them. Not a setting: no declaration.
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def discover(self) -> bool:
        """Groups come from the API (all, one org's, or matching a name)."""
        return self.all_groups or self.org is not None or self.group_name is not None

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared setting: its name, default (MISSING when required) and spec."""

    name: str
    default: object
    spec: Spec


def declared() -> tuple[Declared, ...]:
    """Every setting, in declaration order."""
    return tuple(
        Declared(f.name, f.default, f.metadata[_SPEC])
        for f in fields(Settings)
        if _SPEC in f.metadata
    )


def is_required(d: Declared) -> bool:
    return d.default is MISSING


# Flags that are not settings, bounded the same way (checked when the command line is parsed).
FLAG_BOUNDS: Final[dict[str, Spec]] = {
    "--timeout": Spec(
        "With --wait: give up on a job after this many seconds.", above=0, high=30 * 86400
    ),
    # Above 183 every job is refused one by one (6 months after creation); this only bounds
    # the date arithmetic.
    "--days": Spec("New expiration: this many days from now.", low=1, high=3650),
    "--size-per-file": Spec("Bytes per log file.", low=1, high=2**40),
    "--port": Spec("Port on 127.0.0.1.", low=0, high=65535),
    "--groups": Spec("Number of groups.", low=1, high=10_000),
    "--jobs": Spec("Jobs per group.", low=1, high=10_000),
    "--archive-kib": Spec("Archive size.", low=1, high=1024 * 1024),
    "--collect-seconds": Spec("Collection time.", low=0, high=86400),
    "--rate-limit": Spec("Requests per minute.", low=1, high=100_000),
}


def flag_spec(flag: str) -> Spec:
    """The bounds of a flag: its setting's, or its own entry in FLAG_BOUNDS."""
    for d in declared():
        if d.spec.flag == flag:
            return d.spec
    return FLAG_BOUNDS[flag]


@dataclass(frozen=True, slots=True)
class Given:
    """One value for a setting and where it came from (named in every error about it)."""

    value: object
    where: str  # "config file F", "--concurrency", "BULKDL_PUBLIC_KEY", "profile 'p' in F: key"
    base_dir: Path  # what a relative path in it is relative to
