"""A real pull from the emulator, made once for the search tests: two groups of realistic
archives (mongod JSON and agent logs with the seeded incident) and a third group whose archive
is crafted (rotated .gz, pre-4.4 text, old agent times, FTDC, invalid UTF-8, a control character
in a member name). Tests that damage archives work on a copy."""

from __future__ import annotations

import gzip
import io
import re
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, read_manifest, run_cli, write_config

ODD_MEMBERS: dict[str, bytes] = {
    "old.example.net/27017/mongodb/mongodb.log.2019-03-07T10-00-00.gz": gzip.compress(
        b'{"t":{"$date":"2019-03-07T09:59:00.000+00:00"},"s":"E",  "c":"NETWORK",  "id":1,'
        b'   "ctx":"conn1","msg":"rotated needle early"}\n'
        b'{"t":{"$date":"2019-03-07T09:59:59.000+00:00"},"s":"W",  "c":"NETWORK",  "id":2,'
        b'   "ctx":"conn1","msg":"rotated needle late"}\n'
    ),
    "old.example.net/27017/mongodb/mongodb.log": (
        b"2019-03-07T10:00:01.000+0000 I  NETWORK  [listener] text needle one\n"
        b"2019-03-07T10:30:00.000-0100 E  REPL     [ReplCoord] text needle two\n"
        b"not a timed line, text needle three\n"
    ),
    "old.example.net/automation_agent/automation-agent.log": (
        b"[2019/03/07 10:05:00.000] [.error] [cm/a.go:f:1] [10:05:00.000] agent needle old\n"
        b"[2019-03-07T11:05:00.000+0000] [.info] [cm/a.go:f:2] [11:05:00.000] agent needle new\n"
    ),
    "old.example.net/27017/ftdc/metrics.2019-03-07T10-00-00Z-00000": b"\x00\x01needle\x00" * 50,
    "old.example.net/27017/mongodb/bytes.log": b"caf\xe9 needle \xff\xfe latin-1\n",
    "evil\x1b[31m.example.net/27017/mongodb/mongodb.log": b"escape needle\n",
}


def tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


@dataclass(frozen=True)
class Pull:
    out: Path
    groups: list[str]  # the two realistic groups
    odd_group: str
    odd_job: str
    hosts: list[str]

    def archives(self, group: str | None = None) -> list[tuple[str, str, Path]]:
        """(group, job, path) of every archive the manifest records, in its order."""
        seen: dict[str, tuple[str, str, Path]] = {}
        for line in read_manifest(self.out):
            if line["outcome"] in ("downloaded", "skipped", "replaced"):
                seen[line["jobId"]] = (line["groupId"], line["jobId"], self.out / line["path"])
        found = [a for a in seen.values() if group is None or a[0] == group]
        return sorted(found, key=lambda a: (a[0], a[1]))  # the order search prints them in


def member_lines(path: Path) -> Iterator[tuple[str, int, bytes]]:
    """The oracle: (member, line number, line) of every text member, read with tarfile."""
    with tarfile.open(path, "r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile() or "/ftdc/" in m.name:
                continue
            f = tar.extractfile(m)
            assert f is not None
            data = f.read()
            if m.name.endswith(".gz"):
                data = gzip.decompress(data)
            for n, line in enumerate(data.splitlines(), 1):
                yield m.name, n, line


def oracle(pull: Pull, pattern: bytes, group: str | None = None) -> list[str]:
    """What `bulkdl search` must print for a plain regex, computed the slow, obvious way."""
    rx = re.compile(pattern)
    found = []
    for gid, job, path in pull.archives(group):
        for name, n, line in member_lines(path):
            if rx.search(line):
                found.append(f"{gid}/{job}:{name}:{n}:{line.decode()}")
    return found


@pytest.fixture(scope="session")
def pull(tmp_path_factory: pytest.TempPathFactory) -> Pull:
    fleet = make_fleet(groups=3, jobs_per_group=4, archive_bytes=64 * 1024)
    gids = list(fleet.groups)
    odd = fleet.groups[gids[2]][0]
    for job in fleet.groups[gids[2]][1:]:
        job.status = "EXPIRED"  # the odd group has just the crafted archive
    base = tmp_path_factory.mktemp("pull")
    out = base / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.archives.serve_bytes(odd.id, tar_gz(ODD_MEMBERS))
        cfg = write_config(base / "bulkdl.toml", base_url=emu.base_url, groups=gids)
        result = run_cli(["download", "--config", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output
    hosts = sorted({h for g in gids[:2] for h in fleet.groups[g][0].hosts})
    return Pull(out, gids[:2], gids[2], odd.id, hosts)


@pytest.fixture
def pull_copy(pull: Pull, tmp_path: Path) -> Pull:
    """The same pull in a folder a test may damage."""
    out = tmp_path / "out"
    shutil.copytree(pull.out, out)
    return Pull(out, pull.groups, pull.odd_group, pull.odd_job, pull.hosts)
