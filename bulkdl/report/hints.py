"""Ways forward: the hint printed under an error that has none of its own (pure).

Hints for network failures are chosen where errors are printed, from what the error says, so
that the transport stays about facts and this module about advice. (A config error knows its
way forward where it is raised, and carries it as its own hint.)
"""

from __future__ import annotations

import re
import shlex
from typing import Final

from bulkdl.domain.errors import ApiError, BulkdlError, NetworkError

INSECURE_WARNING: Final = "--insecure: TLS certificates are not verified"

_NETWORK: Final = (
    (
        re.compile(r"WRONG_VERSION_NUMBER|wrong version number|record layer failure", re.I),
        "that port speaks plain HTTP, not TLS: use http:// in base_url, or the HTTPS port",
    ),
    (
        re.compile(r"cannot connect to the proxy", re.I),
        "nothing answers at the proxy: check --proxy, the proxy key or HTTPS_PROXY / HTTP_PROXY "
        "(NO_PROXY lists hosts reached without it)",
    ),
    (
        re.compile(r"refused|Connect call failed", re.I),
        "nothing listens there: check the host and port in base_url "
        "(Ops Manager often listens on 8080 for http, 8443 for https)",
    ),
    (
        re.compile(
            r"Name or service not known|nodename nor servname|name resolution|"
            r"No address associated|getaddrinfo",
            re.I,
        ),
        "the host name does not resolve: check its spelling in base_url, your DNS or VPN",
    ),
    (
        re.compile(r"certificate has expired|certificate is not yet valid", re.I),
        "the server's certificate is outside its validity dates: it must be renewed there (or "
        "this machine's clock is wrong); ca_file cannot help",
    ),
    (
        re.compile(r"Hostname mismatch|IP address mismatch|not valid for", re.I),
        "the certificate was issued for another name: use that name in base_url (ca_file is "
        "not the problem)",
    ),
    (
        re.compile(r"certificate", re.I),
        "the server's CA is not trusted here: point ca_file at your Ops Manager's CA bundle "
        "(--insecure skips the check: not for production)",
    ),
)


WRONG_PATH_HINT: Final = (
    "nothing answers at that path: check the path in base_url; it is the server's root "
    "(https://cloud.mongodb.com, or your Ops Manager's https://host:8443), bulkdl adds "
    "/api/public/v1.0 itself"
)


def hint_for(exc: BulkdlError) -> str | None:
    """Advice for an error that came without a hint, or None."""
    text = str(exc)
    if isinstance(exc, ApiError) and exc.status == 404 and exc.error_code == "RESOURCE_NOT_FOUND":
        return WRONG_PATH_HINT  # the API's answer to a path it has no resource for
    if isinstance(exc, NetworkError):
        for pattern, hint in _NETWORK:
            if pattern.search(text):
                return hint
    return None


_SECRET_OPTION: Final = re.compile(r"--[\w-]*(private|secret|password|token)[\w-]*", re.I)


def resume_command(args: list[str] | None) -> str | None:
    """The command line that resumes a run: the same arguments (a rerun skips what is on disk),
    with the value of any option that could hold a secret shown as ***."""
    if args is None:
        return None
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            shown.append("***")
            hide_next = False
        elif (m := _SECRET_OPTION.match(arg)) and m.end() == len(arg):
            shown.append(arg)
            hide_next = True
        elif m and arg[m.end()] == "=":
            shown.append(arg[: m.end()] + "=***")
        else:
            shown.append(arg)
    return shlex.join(["bulkdl", *shown])
