"""The tools under test and the exact command each one runs for a workload.

- bulkdl: a config naming every group; it lists them itself (requests include listings).
- curl: `--parallel --digest` over the URL list (no listing), writing one file per job.
- equal guarantees: curl, then `sync`, then a sha256 of every file it wrote, as one timed
  shell: what a careful user runs to get bulkdl's durable, hashed result.
- aria2c: only without auth (it has no HTTP Digest).
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from .fixtures import PRIVATE_KEY, PUBLIC_KEY, Fixture, download_path

EQUAL: str = "curl+sync+sha256"


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    kind: str  # "bulkdl", "curl", "equal" or "aria2c"
    # the program: bulkdl's command (maybe `env PYTHONPATH=... python -m bulkdl`), curl,
    # aria2c, or for the equal-guarantees peer its hasher (e.g. `openssl dgst -sha256 -r`)
    argv: tuple[str, ...]

    def runs_on(self, fixture: Fixture) -> bool:
        wl = fixture.workload
        if self.kind == "equal":
            return wl.equal_guarantees
        return wl.kind == "download" or self.kind == "bulkdl"


def fastest_hasher() -> tuple[str, ...]:
    """`openssl dgst -sha256 -r` (SHA-NI; ~5x coreutils' sha256sum on this project's box) when
    installed, else sha256sum: the peer should be as fast as a careful user could make it."""
    if shutil.which("openssl"):
        return ("openssl", "dgst", "-sha256", "-r")
    return ("sha256sum",)


def prepare_command(
    tool: Tool,
    fixture: Fixture,
    base_url: str,
    out: Path,
    scratch: Path,
    concurrency: int,
    ca_file: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for one run of `tool` writing into `out` (`ca_file`: the CA an
    https base_url's certificate is from)."""
    env = dict(os.environ)
    if not base_url.startswith("https:"):
        ca_file = None
    if tool.kind == "bulkdl":
        env["BULKDL_PRIVATE_KEY"] = PRIVATE_KEY
        cfg = bulkdl_config(fixture, base_url, out, scratch, concurrency, ca_file)
        return [*tool.argv, "download", "--config", str(cfg), "--quiet"], env
    urls = [
        (f"{base_url}{download_path(a.group, a.job)}", out / a.group / f"{a.job}.tar.gz")
        for a in fixture.archives
    ]
    if tool.kind == "aria2c":
        return aria2_command(tool.argv, urls, out, scratch / "aria2.list", concurrency), env
    program = ("curl",) if tool.kind == "equal" else tool.argv
    curl = curl_command(program, urls, scratch / "curl.cfg", concurrency, ca_file)
    if tool.kind == "curl":
        return curl, env
    return ["sh", "-c", equal_script(curl, out, scratch / "sums", tool.argv)], env


def bulkdl_config(
    fixture: Fixture,
    base_url: str,
    out: Path,
    scratch: Path,
    concurrency: int,
    ca_file: Path | None = None,
) -> Path:
    cfg = scratch / "bulkdl.toml"
    groups = ", ".join(f'"{g}"' for g in fixture.groups)
    cfg.write_text(
        f'base_url = "{base_url}"\n'
        f'public_key = "{PUBLIC_KEY}"\n'
        f"groups = [{groups}]\n"
        f'out_dir = "{out}"\n'
        f"concurrency = {concurrency}\n"
        f"per_group_concurrency = {concurrency}\n" + (f'ca_file = "{ca_file}"\n' if ca_file else "")
    )
    return cfg


def curl_command(
    program: tuple[str, ...],
    urls: list[tuple[str, Path]],
    cfg: Path,
    concurrency: int,
    ca_file: Path | None = None,
) -> list[str]:
    """curl --parallel over a config file of (url, output) pairs; HTTP/1.1 (as bulkdl), and
    with `ca_file` trusting that CA (HTTPS)."""
    cfg.write_text("".join(f'url = "{u}"\noutput = "{p}"\n' for u, p in urls))
    return [
        *program,
        "--parallel",
        "--parallel-max",
        str(concurrency),
        "--digest",
        "--http1.1",
        *(("--cacert", str(ca_file)) if ca_file else ()),
        "-u",
        f"{PUBLIC_KEY}:{PRIVATE_KEY}",
        "-s",
        "-S",
        "--fail",
        "--create-dirs",
        "-K",
        str(cfg),
    ]


def equal_script(curl: list[str], out: Path, sums: Path, hasher: tuple[str, ...]) -> str:
    """curl, then sync, then hash every file written (sorted), all or nothing."""
    return (
        f"set -e\n{shlex.join(curl)}\nsync\ncd {shlex.quote(str(out))}\n"
        f"find . -type f -name '*.tar.gz' -print0 | sort -z | "
        f"xargs -0 {shlex.join(hasher)} > {shlex.quote(str(sums))}\n"
    )


def aria2_command(
    program: tuple[str, ...], urls: list[tuple[str, Path]], out: Path, lst: Path, concurrency: int
) -> list[str]:
    lst.write_text("".join(f"{u}\n  out={p.relative_to(out)}\n" for u, p in urls))
    return [
        *program,
        "-j",
        str(concurrency),
        "-x1",
        "-i",
        str(lst),
        "-d",
        str(out),
        "--auto-file-renaming=false",
        "--allow-overwrite=true",
        "--file-allocation=none",
        "--console-log-level=warn",
        "--summary-interval=0",
        "--download-result=hide",
        "-q",
    ]
