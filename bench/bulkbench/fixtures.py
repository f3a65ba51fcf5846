"""The fake Cloud Manager site on disk: archives at the API's paths and each group's listing.

Archives are real tar.gz files: one tar member of random bytes, gzipped in stored blocks
(incompressible, start with `1f 8b`, then a ustar header, as bulkdl's sniffing demands); they
are generated once per work dir and reused. Listings are rewritten every run
because they embed the server's URL.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import json
import os
import tarfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from .console import say
from .workloads import MIB, Workload

API: Final = "/api/public/v1.0"
PUBLIC_KEY: Final = "benchpub"
PRIVATE_KEY: Final = "bench-private-key-0000"  # a fake credential for a loopback server
BLOCK: Final = 4 * MIB
PAGE_MAX: Final = 500  # the API's itemsPerPage limit: one page per group keeps listing simple
BASE_TIME: Final = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Archive:
    group: str
    job: str
    size: int
    sha256: str


@dataclass(slots=True)
class Fixture:
    workload: Workload
    groups: list[str]
    jobs: dict[str, list[str]]  # group -> job ids
    archives: list[Archive]  # empty for a listing workload

    @property
    def total_bytes(self) -> int:
        return sum(a.size for a in self.archives)


def object_id(*parts: object) -> str:
    """A stable 24-hex id, like MongoDB's ObjectIds, derived from the workload's name."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:24]


def download_path(group: str, job: str) -> str:
    return f"{API}/groups/{group}/logCollectionJobs/{job}/download"


def listing_path(group: str) -> str:
    return f"{API}/groups/{group}/logCollectionJobs"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


class _Random:
    """A file-like source of `size` random bytes, for tarfile.addfile."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = BLOCK) -> bytes:
        n = min(n, self.left, BLOCK)
        self.left -= n
        return os.urandom(n)


def write_archive(path: Path, size: int) -> tuple[int, str]:
    """A tar.gz holding one member of `size` random bytes, gzip stored (incompressible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    member = tarfile.TarInfo("mongodb.log")
    member.size, member.mtime = size, 0
    with (
        tmp.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.USTAR_FORMAT) as tar,
    ):
        tar.addfile(member, _Random(size))  # type: ignore[arg-type]
    digest = sha256_file(tmp)
    tmp.replace(path)
    return path.stat().st_size, digest


def job_doc(base_url: str, group: str, job: str, status: str, index: int) -> dict[str, Any]:
    """One job as the real API lists it (keys alphabetical, as Cloud Manager sends them)."""
    created = BASE_TIME - timedelta(hours=index)
    return {
        "creationDate": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "downloadUrl": f"{base_url}{download_path(group, job)}",
        "expirationDate": (created + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "groupId": group,
        "id": job,
        "logTypes": ["AUTOMATION_AGENT", "MONGODB", "FTDC"],
        "redacted": False,
        "resourceName": f"rs-{group[8:14]}",
        "resourceType": "replicaset",
        "rootResourceName": f"rs-{group[8:14]}",
        "rootResourceType": "replicaset",
        "sizeRequestedPerFileBytes": 10_000_000,
        "status": status,
        "uncompressedSizeTotalBytes": 3 * 10_000_000,
        "userId": "5c80f75fcf09a246878f67a4",
    }


def listing_doc(base_url: str, group: str, jobs: list[str], statuses: tuple[str, ...]) -> str:
    """A group's whole listing as one page of the API's answer (`links`, `results`, ...)."""
    path = listing_path(group)
    doc = {
        "links": [{"href": f"{base_url}{path}?pageNum=1&itemsPerPage={PAGE_MAX}", "rel": "self"}],
        "results": [
            job_doc(base_url, group, j, statuses[i % len(statuses)], i) for i, j in enumerate(jobs)
        ],
        "totalCount": len(jobs),
    }
    return json.dumps(doc, separators=(",", ":"))


def ensure_fixture(workload: Workload, www: Path, meta_dir: Path, base_url: str) -> Fixture:
    """Generate (or reuse) the archives, and (re)write each group's listing for `base_url`."""
    wl = workload
    groups = [object_id(wl.name, "group", g) for g in range(wl.groups)]
    jobs: dict[str, list[str]] = {g: [] for g in groups}
    for i in range(wl.jobs):
        jobs[groups[i % wl.groups]].append(object_id(wl.name, "job", i))
    if max(len(v) for v in jobs.values()) > PAGE_MAX:
        raise SystemExit(f"{wl.name}: more than {PAGE_MAX} jobs in a group needs a second page")
    archives: list[Archive] = []
    if wl.kind == "download":
        order = [(g, j) for g in groups for j in jobs[g]]
        # ".tar": archives made before they were real tar.gz files are not reused.
        archives = _archives(wl, order, www, meta_dir / f"{wl.name}.tar.json")
    statuses = ("SUCCESS",) if wl.kind == "download" else ("IN_PROGRESS", "EXPIRED")
    for g in groups:
        index = www / listing_path(g).lstrip("/") / "index.json"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(listing_doc(base_url, g, jobs[g], statuses))
    return Fixture(wl, groups, jobs, archives)


def _archives(wl: Workload, order: list[tuple[str, str]], www: Path, meta: Path) -> list[Archive]:
    """The archives of `order`, reusing those `meta` lists that are still on disk."""
    cached: dict[str, Archive] = {}
    if meta.exists():
        for item in json.loads(meta.read_text())["archives"]:
            a = Archive(**item)
            p = www / download_path(a.group, a.job).lstrip("/")
            if p.is_file() and p.stat().st_size == a.size:
                cached[a.job] = a
    todo = [gj for gj in order if gj[1] not in cached]
    if todo:
        say(f"generating {len(todo)} archive(s) for {wl.title} ...")

        def make(gj: tuple[str, str]) -> Archive:
            g, j = gj
            size, sha = write_archive(www / download_path(g, j).lstrip("/"), wl.size)
            return Archive(g, j, size, sha)

        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            cached.update((a.job, a) for a in pool.map(make, todo))
    archives = [cached[j] for _, j in order]
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"archives": [asdict(a) for a in archives]}))
    return archives
