"""nginx serving the fixtures as static files, with HTTP Digest and the WAN delay in njs.

Debian has no nginx digest module; `nginx_digest.js` (beside run.py) answers the way Cloud
Manager does. The `wan` port runs every request through `digest.delayed`, which waits
WAN_DELAY_MS with `setTimeout` before the 401 or the static answer.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Final

from .fixtures import PRIVATE_KEY, PUBLIC_KEY
from .servers import Ports, Server, tail, wait_listening
from .workloads import WAN_DELAY_MS

NJS_SOURCE: Final = Path(__file__).resolve().parent.parent / "nginx_digest.js"
NJS_MODULE: Final = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def has_njs() -> bool:
    return NJS_MODULE.exists()


def write_njs(work: Path, auth: str) -> Path:
    """The njs module with this run's credentials, nonce secret and delay filled in."""
    js = work / "nginx_digest.js"
    src = NJS_SOURCE.read_text()
    values = {
        "USER": PUBLIC_KEY,
        "PASS": PRIVATE_KEY,
        "SECRET": secrets.token_hex(16),
        "AUTH": auth == "digest",
        "DELAY_MS": WAN_DELAY_MS,
    }
    for name, value in values.items():
        src = src.replace(f"@{name}@", json.dumps(value))
    js.write_text(src)
    js.chmod(0o644)
    return js


_GUARD: Final = """\
            if ($digest_verdict != ok) {
                add_header WWW-Authenticate $digest_challenge always;
                return 401;
            }
"""


def plain_server(port: int, www: Path, auth: str) -> str:
    """Static files at once; the digest check (njs variables) in front when auth is on."""
    guard = _GUARD if auth == "digest" else ""
    return f"""
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {www};
        location ~ /logCollectionJobs$ {{
{guard}            default_type application/json;
            try_files $uri/index.json =404;
        }}
        location ~ /download$ {{
{guard}            default_type application/gzip;
        }}
        location / {{ return 404; }}
    }}"""


def wan_server(port: int, www: Path) -> str:
    """Every request waits in njs (auth checked there too), then goes to a named location."""
    return f"""
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {www};
        location ~ /logCollectionJobs$ {{ js_content digest.delayed; }}
        location ~ /download$ {{ js_content digest.delayed; }}
        location @listing {{
            default_type application/json;
            try_files $uri/index.json =404;
        }}
        location @download {{ default_type application/gzip; }}
        location / {{ return 404; }}
    }}"""


def nginx_conf(work: Path, www: Path, ports: Ports, auth: str, log: Path) -> str:
    """The whole config: 2 workers, sendfile, keepalive, one access-log line per request."""
    njs = ""
    if has_njs():
        js = write_njs(work, auth)
        njs = f"    js_import digest from {js};\n"
        if auth == "digest":
            njs += "    js_set $digest_verdict digest.verdict;\n"
            njs += "    js_set $digest_challenge digest.challenge;\n"
    wan = wan_server(ports.wan, www) if has_njs() else ""
    tmp = work / "nginx-tmp"
    return f"""\
{"load_module " + str(NJS_MODULE) + ";" if has_njs() else ""}
daemon off;
master_process on;
worker_processes 2;
pid {work / "nginx.pid"};
error_log {work / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    types {{ }}
    default_type application/octet-stream;
    log_format bench '$connection $status';
    access_log {log} bench;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server_tokens off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{njs}{plain_server(ports.plain, www, auth)}{wan}
}}
"""


def start_nginx(work: Path, www: Path, ports: Ports, auth: str) -> Server:
    nginx = nginx_binary() or "nginx"
    log = work / "access.log"
    log.write_text("")
    (work / "nginx-tmp").mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, www, ports, auth, log))
    errors = work / "nginx-error.log"
    check = subprocess.run(  # noqa: S603 -- a fixed argv, no shell
        [nginx, "-t", "-q", "-e", str(errors), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise SystemExit(f"nginx rejected {conf}:\n{check.stderr}{tail(errors)}")
    proc = subprocess.Popen(  # noqa: S603 -- a fixed argv, no shell
        [nginx, "-e", str(errors), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if has_njs():
        wait_listening(ports, proc, "nginx", errors)
    else:
        wait_listening(Ports(ports.plain, ports.plain), proc, "nginx", errors)
    return Server("nginx", auth, _about(nginx, auth), ports, log, proc)


def _about(nginx: str, auth: str) -> str:
    version = subprocess.run(  # noqa: S603 -- a fixed argv
        [nginx, "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    if auth == "digest":
        how = "digest auth (njs, realm MMS Public API, qop=auth)"
    elif has_njs():
        how = "NO auth (--auth none): curl --digest and bulkdl see no 401"
    else:
        how = "NO auth (no libnginx-mod-http-js for digest): curl --digest and bulkdl see no 401"
    wan = f"; wan port: njs setTimeout {WAN_DELAY_MS} ms per request" if has_njs() else ""
    return f"{version}, static files, sendfile, 2 workers, {how}{wan}"
