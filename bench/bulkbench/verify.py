"""After each run: did the tool write exactly the served bytes (and, for the equal-guarantees
peer, the right sums)? A tool that did not is FAILED and not timed."""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path

from .fixtures import Archive, Fixture, sha256_file


def verify_download(fixture: Fixture, out: Path) -> str | None:
    """None when every archive is on disk byte-exact and nothing else is; else what is wrong."""
    expected = {out / a.group / f"{a.job}.tar.gz": a for a in fixture.archives}
    bookkeeping = {"manifest.jsonl", ".bulkdl.lock"}
    found = {p for p in out.rglob("*") if p.is_file() and p.name not in bookkeeping}
    extra = sorted(found - set(expected))
    if extra:
        return f"{len(extra)} unexpected file(s), e.g. {extra[0]}"

    def check(item: tuple[Path, Archive]) -> str | None:
        path, a = item
        if not path.is_file():
            return f"missing {path}"
        if path.stat().st_size != a.size:
            return f"{path}: {path.stat().st_size} bytes, expected {a.size}"
        if sha256_file(path) != a.sha256:
            return f"{path}: sha256 differs from the served archive"
        return None

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        problems = [p for p in pool.map(check, expected.items()) if p]
    if problems:
        return f"{len(problems)} bad file(s): {problems[0]}"
    return None


def verify_listing(fixture: Fixture, out: Path) -> str | None:
    """bulkdl's manifest has one `not_downloadable` line per listed job."""
    manifest = out / "manifest.jsonl"
    try:
        lines = manifest.read_text().splitlines()
    except OSError as exc:
        return f"no manifest: {exc}"
    outcomes = [json.loads(line).get("outcome") for line in lines]
    bad = [o for o in outcomes if o != "not_downloadable"]
    if len(outcomes) != fixture.workload.jobs or bad:
        return (
            f"manifest has {len(outcomes)} lines ({len(bad)} not 'not_downloadable'), "
            f"expected {fixture.workload.jobs}"
        )
    return None


def verify_sums(fixture: Fixture, sums: Path) -> str | None:
    """The equal-guarantees peer's sums file (`HEX  ./G/J.tar.gz` or `HEX *./G/J.tar.gz`)
    names every archive with its served sha256."""
    try:
        lines = sums.read_text().splitlines()
    except OSError as exc:
        return f"no sums: {exc}"
    got = {}
    for line in lines:
        digest, _, name = line.partition(" ")
        got[name.lstrip(" *").removeprefix("./")] = digest.lower()
    wrong = [a for a in fixture.archives if got.get(f"{a.group}/{a.job}.tar.gz") != a.sha256]
    if wrong or len(got) != len(fixture.archives):
        return f"sums: {len(got)} lines, {len(wrong)} archive(s) missing or with the wrong sha256"
    return None
