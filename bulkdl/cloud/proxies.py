"""Which proxy a request goes through: --proxy, the `proxy` key, or HTTPS_PROXY / HTTP_PROXY /
NO_PROXY as curl reads them (pure functions; the transport applies them per request)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit


def env_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """http/https/no proxy settings from the environment, lower case first as curl does (pure).

    A proxy without a scheme (`proxy.corp:3128`, as often set) means http://, as for curl.
    """
    found = {}
    for scheme in ("http", "https", "no"):
        value = (env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY") or "").strip()
        if value and scheme != "no" and "://" not in value:
            value = f"http://{value}"
        if value:
            found[scheme] = value
    return found


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether NO_PROXY names this host, as curl reads it (pure): `*`, or comma-separated names
    matching the host or a parent domain (a leading dot optional), each optionally `:port`."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        name, _, entry_port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        name = name.strip("[]").lstrip(".")
        if entry == "*" or (
            name
            and (host == name or host.endswith("." + name))
            and (not entry_port or entry_port == str(port))
        ):
            return True
    return False


def proxy_for(url: str, explicit: str | None, proxies: Mapping[str, str]) -> str | None:
    """The proxy for one request: --proxy / the key, else the scheme's *_PROXY; NO_PROXY wins.

    `proxies` as `env_proxies` returns them.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if "no" in proxies and bypasses_proxy(host, parts.port, proxies["no"]):
        return None
    return explicit or proxies.get(parts.scheme)


def redact(url: str) -> str:
    """A URL fit to print: user and password removed (pure)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
