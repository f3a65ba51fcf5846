"""Settings from layered sources, each value checked against its declaration (settings_spec).

Precedence, highest first: flags > BULKDL_* variables > MCLI_* / MONGODB_ATLAS_* variables >
the `--profile NAME` of mongocli's or atlas's config file > bulkdl's TOML file > defaults.
Every value keeps where it came from, so each problem is one ConfigError naming that flag,
variable or file and the bad value: the run exits 2 before any request. The private key is
never read from bulkdl's TOML: it comes from a variable, a profile or `private_key_file`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_type_hints
from urllib.parse import urlsplit

from bulkdl.domain.errors import ConfigError
from bulkdl.domain.models import GroupId, group_id, is_object_id
from bulkdl.settings import mongocli as ecosystem
from bulkdl.settings.files import CONFIG_FILE_MAX, KEY_FILE_MAX, NotSmallFile, read_small_file
from bulkdl.settings.spec import API_PREFIX, Declared, Given, Secret, Settings, declared

__all__ = ["API_PREFIX", "Overrides", "Secret", "Settings", "env_snapshot", "load_settings"]

DEFAULT_CONFIG: Final = Path("bulkdl.toml")
BOM: Final = b"\xef\xbb\xbf"
ENV_PUBLIC_KEY: Final = "BULKDL_PUBLIC_KEY"
ENV_PRIVATE_KEY: Final = "BULKDL_PRIVATE_KEY"
_HOST: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SELECTION: Final = ("groups", "all_groups", "org", "group_name")


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """What the command line said; None, False or () means "not given".

    One field per setting that has a flag (a test checks it), plus the profile name.
    """

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
    profile: str | None = None


def load_settings(
    config_path: Path | None,
    env: Mapping[str, str],
    overrides: Overrides,
    *,
    need_out_dir: bool = True,
) -> Settings:
    """Merge the layers, check every value, and build Settings (or raise ConfigError)."""
    if config_path is None and DEFAULT_CONFIG.is_file():
        config_path = DEFAULT_CONFIG
    toml = _toml_layer(config_path) if config_path is not None else {}
    above = {**ecosystem.env_layer(env), **_env_layer(env), **_flag_layer(overrides)}
    eco = {
        **_profile(overrides, env, names_key=_names_key(toml, above)),
        **ecosystem.env_layer(env),
    }
    fallback = {k: eco.pop(k) for k in ecosystem.FALLBACKS if k in eco}
    merged = {**toml, **eco, **_env_layer(env), **_flag_layer(overrides)}
    _one_key_pair(merged)
    if not any(merged[k].value for k in _SELECTION if k in merged):
        # mongocli's default project, else its default org
        chosen = "groups" if "groups" in fallback else "org"
        if chosen in fallback:
            merged[chosen] = fallback[chosen]
    if "base_url" not in merged and ecosystem.SERVICE_URL in fallback:
        merged["base_url"] = fallback[ecosystem.SERVICE_URL]

    values: dict[str, Any] = {}
    types = get_type_hints(Settings)
    for d in declared():
        given = merged.get(d.name)
        if given is not None:
            values[d.name] = _convert(d, types[d.name], given)
    if "private_key" not in values and "private_key_file" in values:
        values["private_key"] = _read_private_key(values["private_key_file"], merged)
    _require(values, need_out_dir)
    named = ("base_url", "public_key", "private_key")
    sources: dict[str, str] = {k: merged[k].where for k in named if k in merged}
    if "private_key" not in merged and "private_key_file" in merged:
        sources["private_key"] = merged["private_key_file"].where
    return Settings(**values, sources=sources)


def _profile(overrides: Overrides, env: Mapping[str, str], *, names_key: bool) -> dict[str, Given]:
    """The profile named by -P/--profile, BULKDL_PROFILE or MCLI_PROFILE; else, as mongocli
    does, the `default` profile, when it exists and nothing else names a key."""
    for name, where in (
        (overrides.profile, "--profile"),
        (env.get(ecosystem.ENV_PROFILE, "").strip(), ecosystem.ENV_PROFILE),
        (env.get(ecosystem.ENV_MCLI_PROFILE, "").strip(), ecosystem.ENV_MCLI_PROFILE),
    ):
        if name:
            return ecosystem.profile_layer(name, env, where)
    if names_key:
        return {}
    default = ecosystem.DEFAULT_PROFILE
    return ecosystem.profile_layer(default, env, "the default profile", optional=True)


def _names_key(*layers: Mapping[str, Given]) -> bool:
    keys = ("public_key", "private_key", "private_key_file")
    return any(k in layer for layer in layers for k in keys)


def _one_key_pair(merged: Mapping[str, Given]) -> None:
    """A key pair is used whole: a profile's half never pairs with a half from elsewhere (a
    stray MCLI_PRIVATE_API_KEY must not silently replace half of `--profile prod`)."""
    public, private = merged.get("public_key"), merged.get("private_key")
    if public is None or private is None:
        return
    from_profile = [g.where.startswith("profile ") for g in (public, private)]
    if from_profile[0] != from_profile[1]:
        raise ConfigError(
            f"the public key comes from {public.where} but the private key from "
            f"{private.where}: a key pair must come from one place",
            hint="unset the stray half (or give both halves in the same place)",
        )


def _require(values: dict[str, Any], need_out_dir: bool) -> None:
    """Name what is missing, and where it could come from."""
    if "base_url" not in values:
        raise ConfigError(
            "no base_url",
            hint="set base_url (https://cloud.mongodb.com or your Ops Manager URL), --base-url, "
            "BULKDL_BASE_URL or MCLI_OPS_MANAGER_URL",
        )
    if "public_key" not in values:
        raise ConfigError(
            "no public API key",
            hint=f"set {ENV_PUBLIC_KEY} (or MCLI_PUBLIC_API_KEY, or --profile NAME) "
            "or public_key in the config file",
        )
    if "private_key" not in values:
        raise ConfigError(
            "no private API key",
            hint=f"set {ENV_PRIVATE_KEY} (or MCLI_PRIVATE_API_KEY, or --profile NAME) "
            "or private_key_file in the config file",
        )
    if not values.get("groups") and not any(values.get(k) for k in _SELECTION[1:]):
        raise ConfigError(
            "no groups to work on",
            hint="pass --group ID or --all-groups, or set groups = [...] or all_groups = true",
        )
    if "out_dir" not in values:
        if need_out_dir:
            raise ConfigError("no output directory", hint="pass --out DIR or set out_dir")
        values["out_dir"] = Path.cwd()  # commands that write nothing have no use for it


def _toml_layer(path: Path) -> dict[str, Given]:
    doc = read_config_file(path)
    return {k: Given(v, f"config file {path}", path.parent) for k, v in doc.items()}


def _env_layer(env: Mapping[str, str]) -> dict[str, Given]:
    """BULKDL_* variables; an empty (or blank) variable counts as unset."""
    return {
        d.name: Given(env[d.spec.env], d.spec.env, Path.cwd())
        for d in declared()
        if d.spec.env and env.get(d.spec.env, "").strip()
    }


def _flag_layer(overrides: Overrides) -> dict[str, Given]:
    layer: dict[str, Given] = {}
    for d in declared():
        if d.spec.flag:
            value = getattr(overrides, d.name)
            if value not in (None, False, ()):
                layer[d.name] = Given(value, d.spec.flag, Path.cwd())
    return layer


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse bulkdl's TOML file; refuse unknown keys (with a "did you mean") and profile files."""
    try:
        data = read_small_file(path, CONFIG_FILE_MAX)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist",
            hint=f"start one with `bulkdl config example > {path}` and edit it, "
            "or pass --config FILE",
        ) from None
    except NotSmallFile as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if data.startswith(BOM):
        raise ConfigError(
            f"config file {path} starts with a UTF-8 byte-order mark (BOM), which TOML forbids",
            hint="save it as UTF-8 without BOM (most editors: 'UTF-8', not 'UTF-8 with BOM')",
        )
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    profiles = ecosystem.is_profile_file(doc)
    if profiles:
        raise ConfigError(
            f"config file {path} is a mongocli/atlas profile file "
            f"(profiles: {', '.join(profiles)}), not a bulkdl config",
            hint=f"use --profile {profiles[0]} (and {ecosystem.ENV_PROFILE_FILE}={path} "
            "if it is not at its usual place); `bulkdl config example` prints a bulkdl config",
        )
    _check_keys(path, doc)
    return doc


def _check_keys(path: Path, doc: dict[str, Any]) -> None:
    keys = {d.name: d for d in declared()}
    for key in doc:
        d = keys.get(key)
        if key == "private_key":
            raise ConfigError(
                f"config file {path}: private_key must not be stored in the config file",
                hint=f"set {ENV_PRIVATE_KEY} or point private_key_file at a file only you can read",
            )
        if d is not None and not d.spec.toml:
            raise ConfigError(
                f"config file {path}: {key} cannot be set in the config file",
                hint=f"use {d.spec.flag or d.spec.env}",
            )
        if d is None:
            near = difflib.get_close_matches(key, [k for k, v in keys.items() if v.spec.toml], 1)
            raise ConfigError(
                f"config file {path}: unknown key {key!r}",
                hint=f"did you mean {near[0]!r}?" if near else "see `bulkdl config example`",
            )


def _convert(d: Declared, kind: object, given: Given) -> Any:
    """One value, parsed by its declared type and checked against its bounds."""
    converter = _CONVERTERS.get(d.name) or _BY_TYPE[kind]
    return converter(d, given)


def _fail(d: Declared, given: Given, why: str) -> ConfigError:
    return ConfigError(f"{given.where}: {d.name} {why}, got {given.value!r}")


def _number(d: Declared, given: Given, kind: type[int] | type[float]) -> int | float:
    value = given.value
    if isinstance(value, str):  # from a variable
        try:
            value = kind(value.strip())
        except ValueError:
            raise _fail(
                d, given, f"must be {'an integer' if kind is int else 'a number'}"
            ) from None
    allowed = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise _fail(d, given, f"must be {'an integer' if kind is int else 'a number of seconds'}")
    why = d.spec.check_number(value)
    if why:
        raise _fail(d, given, why)
    return kind(value)


def _boolean(d: Declared, given: Given) -> bool:
    if isinstance(given.value, bool):
        return given.value
    raise _fail(d, given, "must be true or false")


def _string(d: Declared, given: Given) -> str:
    if not isinstance(given.value, str) or not given.value.strip():
        raise _fail(d, given, "must be a non-empty string")
    return given.value.strip()


def _path(d: Declared, given: Given) -> Path:
    """A path: `~` expanded, relative to the file (or folder) it was given in."""
    if isinstance(given.value, Path):  # from a flag: as typed, relative to the cwd
        return given.value
    return given.base_dir / Path(_string(d, given)).expanduser()


def _groups(d: Declared, given: Given) -> tuple[GroupId, ...]:
    raw = given.value
    if not isinstance(raw, list | tuple):
        raise _fail(d, given, "must be a list of group ids")
    groups: list[GroupId] = []
    for item in raw:
        try:
            gid = group_id(item if isinstance(item, str) else repr(item))
        except ValueError as exc:
            raise ConfigError(f"{given.where}: {exc}") from None
        if gid not in groups:
            groups.append(gid)
    return tuple(groups)


def _org(d: Declared, given: Given) -> str:
    org = _string(d, given)
    if not is_object_id(org):
        raise ConfigError(f"{given.where}: org id {org!r} is not 24 hex")
    return org


def _public_key(d: Declared, given: Given) -> str:
    key = _string(d, given)
    if ":" in key or any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigError(
            f"{given.where}: the public key must not contain ':', spaces or control characters",
            hint="check for a stray newline or a key pair pasted as one value",
        )
    return key


def _private_key(d: Declared, given: Given) -> Secret:
    """Stripped like a key file's content; the value itself never goes into a message."""
    if not isinstance(given.value, str) or not given.value.strip():
        raise ConfigError(f"{given.where}: the private key is empty")
    return Secret(given.value.strip())


def _url(d: Declared, given: Given) -> str:
    return normalise_base_url(given.value, given.where, name=d.name)


def _proxy(d: Declared, given: Given) -> str:
    return check_proxy(str(given.value), given.where)


def check_proxy(raw: str, where: str) -> str:
    """A proxy URL: http(s) with a host, credentials allowed (sent to the proxy only) but
    never echoed back."""
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


def _read_private_key(path: Path, merged: Mapping[str, Given]) -> Secret:
    where = merged["private_key_file"].where
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
        value = read_small_file(path, KEY_FILE_MAX).decode("utf-8").strip()
    except NotSmallFile as exc:
        raise ConfigError(f"{where}: private_key_file {path}: {exc}") from None
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{where}: private_key_file {path} cannot be read") from None
    if not value:
        raise ConfigError(f"{where}: private_key_file {path} is empty")
    return Secret(value)


def normalise_base_url(raw: object, where: str, *, name: str = "base_url") -> str:
    """`http(s)://host[:port][/prefix]`, without /api/public/v1.0 or a trailing slash.

    Refused: other schemes, credentials, a query or fragment, a bad port, a host that is
    neither a name nor an IP address. mongocli wants a trailing slash: it is accepted.
    """
    url = str(raw).strip()
    try:
        parts = urlsplit_checked(url)
    except ValueError as exc:
        raise ConfigError(
            f"{where}: {name} {url!r} is not a valid URL: {exc}",
            hint=_scheme_hint(url),
        ) from None
    scheme, netloc, path = parts
    prefix_free = path.rstrip("/")
    if prefix_free.endswith(API_PREFIX):
        prefix_free = prefix_free[: -len(API_PREFIX)]
    return f"{scheme}://{netloc}{prefix_free.rstrip('/')}"


_SCHEME_TYPO: Final = re.compile(r"(https?)(:?/{1,2}|:)(?!/)(.+)", re.IGNORECASE)


def _scheme_hint(url: str) -> str | None:
    """`http//host`, `https:/host`, `http:host`: a mistyped scheme, not a missing one."""
    if "://" in url:
        return None
    if m := _SCHEME_TYPO.fullmatch(url):
        fixed = f"{m[1].lower()}://{m[3]}"
        return f"the scheme looks mistyped ({m[1]}{m[2]}): did you mean {fixed}?"
    return f"give the scheme too, e.g. https://{url}"


def urlsplit_checked(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path) of an http(s) URL, or ValueError saying what is wrong."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("it contains spaces or control characters")
    parts = urlsplit(url)  # ValueError for an unclosed IPv6 bracket
    if parts.scheme not in ("http", "https"):
        raise ValueError("it is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("it must not carry credentials")
    if "?" in url or "#" in url:
        raise ValueError("it must not have a query (?) or fragment (#)")
    host = parts.hostname or ""
    try:
        port = parts.port  # ValueError when not a number or above 65535
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError("the port must be a number from 1 to 65535")
    if not _valid_host(host, bracketed="[" in parts.netloc):
        raise ValueError(f"{host!r} is not a host name or IP address")
    return parts.scheme, parts.netloc.lower(), parts.path


def _valid_host(host: str, *, bracketed: bool) -> bool:
    if not host:
        return False
    if bracketed:
        try:
            return ipaddress.ip_address(host).version == 6
        except ValueError:
            return False
    return _HOST.fullmatch(host) is not None


_Converter = Callable[[Declared, Given], Any]
_CONVERTERS: Final[dict[str, _Converter]] = {
    "base_url": _url,
    "proxy": _proxy,
    "public_key": _public_key,
    "org": _org,
}
_BY_TYPE: Final[dict[object, _Converter]] = {
    int: lambda d, g: _number(d, g, int),
    float: lambda d, g: _number(d, g, float),
    bool: _boolean,
    str: _string,
    str | None: _string,
    Path: _path,
    Path | None: _path,
    Secret: _private_key,
    tuple[GroupId, ...]: _groups,
}


def env_snapshot() -> dict[str, str]:
    """The environment variables bulkdl reads, nothing else."""
    prefixes = ("BULKDL_", *ecosystem.ENV_PREFIXES)
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(prefixes) or k in ("HOME", "XDG_CONFIG_HOME")
    }
