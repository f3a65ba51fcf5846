"""Kill test: SIGINT/SIGTERM at random moments never leave a wrong final file; exit 130 in 5 s.

Each run starts from an empty folder and is signalled at a random moment: during start-up,
listing, or mid-download. Afterwards every final-named archive must equal the served bytes,
no .part may remain, and (every few runs) a rerun must complete everything.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, read_manifest, served_archive, start_download

RUNS = 20


def _start(emu: EmulatorThread, groups: list[str], out: Path) -> subprocess.Popen[str]:
    return start_download(emu.base_url, groups, out, "--concurrency", "3")


def test_random_kills(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    fleet = make_fleet(groups=2, jobs_per_group=6, archive_bytes=320 * 1024)
    groups = list(fleet.groups)
    expected = {
        (gid, job.id): served_archive(fleet, gid, job.id)
        for gid in groups
        for job in fleet.groups[gid]
        if job.status in {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}
    }
    codes: list[int] = []
    # About 3.5 s for a whole run: every signal in [0.15, 2.0] s lands before the end. (Before
    # ~0.05 s CPython itself is still starting: no program can have a handler installed yet.)
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.05) as emu:
        for run in range(RUNS):
            out = tmp_path / f"run{run}"
            sig = signal.SIGINT if run % 2 == 0 else signal.SIGTERM
            proc = _start(emu, groups, out)
            time.sleep(rng.uniform(0.15, 2.0))
            proc.send_signal(sig)
            sent = time.monotonic()
            _, stderr = proc.communicate(timeout=15)
            waited = time.monotonic() - sent
            context = f"seed={seed} run={run} {sig.name}: {stderr[-500:]}"
            codes.append(proc.returncode)
            assert proc.returncode == 130, context
            assert waited < 5, context
            assert "Traceback" not in stderr, context
            assert not list(out.rglob("*.part")), context
            for path in out.rglob("*.tar.gz"):
                key = (path.parent.name, path.name.removesuffix(".tar.gz"))
                assert path.read_bytes() == expected[key], context
            if run % 4 == 3:
                rerun = _start(emu, groups, out)
                _, stderr = rerun.communicate(timeout=60)
                assert rerun.returncode == 0, f"seed={seed} rerun {run}: {stderr[-500:]}"
                got = {
                    (p.parent.name, p.name.removesuffix(".tar.gz")): p.read_bytes()
                    for p in out.rglob("*.tar.gz")
                }
                assert got == expected, f"seed={seed} rerun {run}"
                assert len({line["jobId"] for line in read_manifest(out)}) == 12
    assert codes == [130] * RUNS
