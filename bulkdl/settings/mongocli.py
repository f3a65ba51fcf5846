"""Credentials and endpoints mongocli and atlas users already have.

Two sources, mapped onto bulkdl's settings by each setting's `eco` name: the `MCLI_*` and
`MONGODB_ATLAS_*` environment variables (MCLI_ wins when both name the same key), and one
profile of mongocli's or atlas's config file (`--profile NAME`). `service` implies a base URL
and `project_id` / `org_id` the groups, but only when no source gives them (see config.py).
"""

from __future__ import annotations

import difflib
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from bulkdl.domain.errors import ConfigError
from bulkdl.settings.spec import Given, declared

ENV_PREFIXES: Final = ("MCLI_", "MONGODB_ATLAS_")
ENV_PROFILE: Final = "BULKDL_PROFILE"
ENV_MCLI_PROFILE: Final = "MCLI_PROFILE"  # mongocli's own variable
DEFAULT_PROFILE: Final = "default"  # what mongocli uses when nothing names a profile
ENV_PROFILE_FILE: Final = "BULKDL_PROFILE_FILE"
# mongocli's current file, its older name, then atlas's: under $XDG_CONFIG_HOME or ~/.config.
PROFILE_FILES: Final = ("mongocli/config.toml", "mongocli.toml", "atlascli/config.toml")
SERVICE_URLS: Final = {
    "cloud-manager": "https://cloud.mongodb.com",
    "cloud": "https://cloud.mongodb.com",
    "cloudgov": "https://cloud.mongodbgov.com",
    "ops-manager": None,  # the URL comes from ops_manager_url
}
SERVICE_URL: Final = "service_url"  # the URL `service` implies
# Defaults rather than overrides (see config.py): mongocli's default project and org, and the
# URL of a service type, used only when no source names groups or a URL itself.
FALLBACKS: Final[tuple[str, ...]] = ("groups", "org", SERVICE_URL)
_YES: Final = frozenset({"yes", "true", "1"})
_NO: Final = frozenset({"no", "false", "0", ""})


def eco_keys() -> dict[str, str]:
    """mongocli/atlas key -> bulkdl setting, from the declarations."""
    return {d.spec.eco: d.name for d in declared() if d.spec.eco}


def is_profile_file(doc: Mapping[str, Any]) -> list[str]:
    """The profile names of a mongocli/atlas config file (empty when `doc` is not one)."""
    known = set(eco_keys()) | {"service"}
    return [k for k, v in doc.items() if isinstance(v, dict) and known & set(v)]


def env_layer(env: Mapping[str, str]) -> dict[str, Given]:
    """Settings from MCLI_* / MONGODB_ATLAS_* variables (MCLI_ wins per key)."""
    raw: dict[str, tuple[str, str]] = {}
    for name in [*eco_keys(), "service"]:
        for prefix in reversed(ENV_PREFIXES):  # the first prefix overwrites the later ones
            var = prefix + name.upper()
            if env.get(var, "").strip():
                raw[name] = (env[var], var)
    return _translate(raw, Path.cwd())


def profile_layer(
    name: str, env: Mapping[str, str], where_flag: str, *, optional: bool = False
) -> dict[str, Given]:
    """Settings from profile `name` of the first mongocli/atlas config file that has it.

    `optional` (mongocli's `default`, used when nothing named a profile): absent is no error.
    A name not found lists the profiles that exist, nearest first.
    """
    candidates = profile_files(env)
    existing: list[str] = []
    for path in candidates:
        doc = _read_profile_file(path)
        if doc is None:
            continue
        table = doc.get(name)
        if isinstance(table, dict):
            _check_private(path)
            raw = {k: (str(v), f"profile {name!r} in {path}: {k}") for k, v in table.items()}
            return _translate(raw, path.parent)
        existing += [p for p in is_profile_file(doc) if p not in existing]
    if optional:
        return {}
    found = ", ".join(str(p) for p in candidates)
    near = difflib.get_close_matches(name, existing, n=1)
    mean = f"did you mean {near[0]!r}? " if near else ""
    listed = f"profiles there: {', '.join(existing)}" if existing else "no profiles there"
    raise ConfigError(
        f"{where_flag}: no profile {name!r} in {found}",
        hint=f"{mean}{listed}; create one with `mongocli config --profile {name}`, "
        f"or set {ENV_PROFILE_FILE}",
    )


def profile_files(env: Mapping[str, str]) -> list[Path]:
    """Where to look for profiles: the file given, else mongocli's and atlas's usual places."""
    given = env.get(ENV_PROFILE_FILE, "").strip()
    if given:
        return [Path(given).expanduser()]
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    home = env.get("HOME", "").strip()
    base = Path(xdg) if xdg else (Path(home) if home else Path.home()) / ".config"
    return [base / rel for rel in PROFILE_FILES]


def _read_profile_file(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile file {path}: cannot read it: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile file {path}: invalid TOML: {exc}") from None


def _check_private(path: Path) -> None:
    """The file holds a private key in plain text: refuse it if others can read it, as ssh."""
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"profile file {path} is readable by other users", hint=f"chmod 600 {path}"
        )


def _translate(raw: Mapping[str, tuple[str, str]], base_dir: Path) -> dict[str, Given]:
    """mongocli/atlas keys -> bulkdl settings; `service` becomes base_url when no URL is set."""
    names = eco_keys()
    layer: dict[str, Given] = {}
    for eco, (value, where) in raw.items():
        if eco in names:
            layer[names[eco]] = Given(value.strip(), where, base_dir)
    if "service" in raw:
        value, where = raw["service"]
        service = value.strip().lower()
        if service not in SERVICE_URLS:
            raise ConfigError(
                f"{where}: unknown service {value!r}", hint=", ".join(sorted(SERVICE_URLS))
            )
        url = SERVICE_URLS[service]
        if url is not None:
            layer[SERVICE_URL] = Given(url, where, base_dir)
    if "insecure" in layer:
        skip = layer.pop("insecure")
        flag = str(skip.value).lower()
        if flag not in _YES | _NO:
            raise ConfigError(f"{skip.where}: expected yes or no, got {skip.value!r}")
        if flag in _YES:
            layer["insecure"] = Given(True, skip.where, base_dir)
    if "groups" in layer:
        project = layer["groups"]
        layer["groups"] = Given([project.value], project.where, base_dir)
    return layer
