"""Kill test: SIGINT/SIGTERM at random moments never leave a wrong final file; exit 130 in 5 s.

Each run starts from an empty folder and is signalled at a random moment of one phase, in
turn: start-up, listing, early download, late download. A moment is picked by what the
emulator has seen (a listing request, a share of the bytes sent), not by wall time, so the
phases are reached however loaded the machine is. Afterwards every final-named archive must
equal the served bytes and no .part may remain; after the last run of a batch a rerun must
complete everything. The runs come in batches so that pytest-xdist can run them side by side;
`--kill-seed N` replays every batch exactly.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, read_manifest, served_archive, start_download, wait_for

BATCHES = 4
RUNS_PER_BATCH = 5  # 20 runs in all
PHASES = ("start-up", "listing", "early download", "late download")


def _wait_for_handlers(proc: subprocess.Popen[str], timeout_s: float = 10.0) -> None:
    """Wait until the process catches SIGTERM (its SigCgt mask in /proc says so).

    Before that, CPython is still starting and no program can handle a signal; waiting for the
    handler instead of a fixed delay keeps the test independent of how loaded the machine is.
    """
    _wait_until(lambda: _catches_sigterm(proc.pid), timeout_s, "bulkdl never installed its handler")


def _catches_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def _wait_until(ready: Callable[[], bool], timeout_s: float, failure: str) -> None:
    wait_for(ready, failure, timeout_s)


def _wait_for_phase(
    emu: EmulatorThread, proc: subprocess.Popen[str], phase: str, rng: random.Random, total: int
) -> None:
    """Return at a random moment inside `phase` of the run `proc` is making."""
    if phase == "start-up":
        time.sleep(rng.uniform(0.0, 0.2))
        return
    if phase == "listing":
        _wait_until(lambda: emu.state.counters.requests_by_kind["list"] >= 1, 30, "no listing")
        time.sleep(rng.uniform(0.0, 0.05))
        return
    # Concurrency 3 of 8 equal archives: the first three are whole at 3/8 of the bytes, so late
    # (from 55 %) some archives are final on disk, early (up to 30 %) most likely none is.
    share = rng.uniform(0.02, 0.30) if phase == "early download" else rng.uniform(0.55, 0.9)

    def reached() -> bool:
        return emu.state.counters.bytes_sent >= share * total or proc.poll() is not None

    _wait_until(reached, 30, f"the emulator never sent {share:.0%} of the bytes")


def _start(emu: EmulatorThread, groups: list[str], out: Path) -> subprocess.Popen[str]:
    return start_download(emu.base_url, groups, out, "--concurrency", "3")


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_kills(tmp_path: Path, kill_seed: int, batch: int) -> None:
    rng = random.Random(f"{kill_seed}:{batch}")
    fleet = make_fleet(groups=2, jobs_per_group=6, archive_bytes=320 * 1024)
    groups = list(fleet.groups)
    expected = {
        (gid, job.id): served_archive(fleet, gid, job.id)
        for gid in groups
        for job in fleet.groups[gid]
        if job.status in {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}
    }
    total = sum(len(body) for body in expected.values())
    # About 1 s per archive: a run downloads for about 3 s after listing.
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.05) as emu:
        for run in range(RUNS_PER_BATCH):
            out = tmp_path / f"run{run}"
            sig = signal.SIGINT if run % 2 == 0 else signal.SIGTERM
            phase = PHASES[(batch + run) % len(PHASES)]
            context = f"--kill-seed {kill_seed} batch={batch} run={run} {sig.name} {phase}"
            emu.state.reset()
            proc = _start(emu, groups, out)
            _wait_for_handlers(proc)
            _wait_for_phase(emu, proc, phase, rng, total)
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=15)  # the net: it must exit, not hang
            context += f": {stderr[-500:]}"
            assert proc.returncode == 130, context
            assert "Traceback" not in stderr, context
            assert not list(out.rglob("*.part")), context
            kept = list(out.rglob("*.tar.gz"))
            for path in kept:
                key = (path.parent.name, path.name.removesuffix(".tar.gz"))
                assert path.read_bytes() == expected[key], context
            if phase == "late download":  # the interesting case: signalled mid-pull
                assert 0 < len(kept) < len(expected), f"{context}: kept {len(kept)}"
        rerun = _start(emu, groups, out)
        _, stderr = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, f"--kill-seed {kill_seed} batch={batch}: {stderr[-500:]}"
        got = {
            (p.parent.name, p.name.removesuffix(".tar.gz")): p.read_bytes()
            for p in out.rglob("*.tar.gz")
        }
        assert got == expected, f"--kill-seed {kill_seed} batch={batch} rerun"
        assert len({line["jobId"] for line in read_manifest(out)}) == 12
