"""The fault matrix: every fault the emulator can inject, transient and persistent, via the CLI.

Transient faults (first attempt only) must end with byte-exact archives and exit 0; persistent
ones with that job (or group) failed, no .part and no final file for it, the others complete,
exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkdl.emulator import (
    Always,
    CorruptGzip,
    EmulatorThread,
    Fault,
    Fleet,
    HtmlPage,
    MissingResults,
    NotGzip,
    NotJson,
    RateLimit,
    RepeatingNext,
    ResetAfter,
    ServerFault,
    StaleNonce,
    Stall,
    TruncatedChunked,
    add_group,
)
from tests.conftest import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    read_manifest,
    run_cli,
    served_archive,
    write_config,
)

DOWNLOAD_FAULTS: dict[str, Fault] = {
    "reset": ResetAfter(20_000),
    "500": ServerFault(500),
    "503-html": ServerFault(503, html=True),
    "429-retry-after": RateLimit(retry_after_s=0.05),
    "429-bare": RateLimit(),
    "stall": Stall(after_bytes=10_000, seconds=3),
    "chunked-cut": TruncatedChunked(after_bytes=20_000),
    "corrupt-gzip": CorruptGzip(),
    "stale-nonce": StaleNonce(),
}
LISTING_FAULTS: dict[str, Fault] = {
    "500": ServerFault(500),
    "502-html": ServerFault(502, html=True),
    "429": RateLimit(retry_after_s=0.05),
    "reset": ResetAfter(100),
}


def _fleet(n_groups: int, jobs: int) -> tuple[Fleet, list[str]]:
    fleet = Fleet(keys={PUBLIC_KEY: PRIVATE_KEY})
    groups = [
        add_group(fleet, n_jobs=jobs, statuses=["SUCCESS"], archive_bytes=64 * 1024, seed=i)
        for i in range(n_groups)
    ]
    return fleet, groups


def _run(tmp_path: Path, emu: EmulatorThread, groups: list[str], *extra: str) -> tuple[int, str]:
    cfg = write_config(
        tmp_path / "c.toml",
        base_url=emu.base_url,
        groups=groups,
        retries=3,
        retry_backoff_s=0.01,
        stall_timeout_s=0.5,
        verify=True,
        per_group_concurrency=4,
    )
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "out"), *extra])
    assert "Traceback" not in result.output
    assert PRIVATE_KEY not in result.output
    return result.exit_code, result.stderr


def test_transient_faults_end_byte_exact(tmp_path: Path) -> None:
    """Each fault once, on its own job or listing: everything still lands, exit 0."""
    fleet, groups = _fleet(len(LISTING_FAULTS) + 1, len(DOWNLOAD_FAULTS))
    jobs = fleet.groups[groups[0]]
    # Paced chunks, so the client has written part of a body before it is cut (then resumed).
    with EmulatorThread(fleet, chunk_size=8 * 1024, chunk_delay_s=0.005) as emu:
        for job, fault in zip(jobs, DOWNLOAD_FAULTS.values(), strict=True):
            emu.state.add_download_faults(job.id, [fault])
        for gid, fault in zip(groups[1:], LISTING_FAULTS.values(), strict=True):
            emu.state.add_listing_faults(gid, [fault])
        code, stderr = _run(tmp_path, emu, groups, "--concurrency", "4")
        served = dict(emu.state.counters.faults_served)
        resumed = emu.state.counters.responses_by_status[206]
    assert code == 0, stderr
    assert resumed >= 2  # the cut bodies (reset, chunked) were resumed with Range, not restarted
    out = tmp_path / "out"
    for gid in groups:
        for job in fleet.groups[gid]:
            path = out / gid / f"{job.id}.tar.gz"
            assert path.read_bytes() == served_archive(fleet, gid, job.id), path
    assert not list(out.rglob("*.part"))
    manifest = {line["jobId"]: line for line in read_manifest(out)}
    for job in jobs:
        assert manifest[job.id]["outcome"] == "downloaded"
        assert manifest[job.id]["attempts"] >= 2 or job is jobs[-1]  # stale nonce: same attempt
    # The server really served each kind.
    for kind in (
        "ResetAfter",
        "ServerFault",
        "RateLimit",
        "Stall",
        "TruncatedChunked",
        "CorruptGzip",
        "StaleNonce",
    ):
        assert served.get(kind, 0) >= 1, kind
    assert "retrying" in stderr


@pytest.mark.parametrize(
    ("name", "fault", "message"),
    [
        ("reset", Always(ResetAfter(20_000)), "body was cut short"),
        ("500", Always(ServerFault(500)), "HTTP 500 UNEXPECTED_ERROR"),
        ("429", Always(RateLimit(retry_after_s=0.05)), "HTTP 429 RATE_LIMITED"),
        ("stall", Always(Stall(after_bytes=10_000, seconds=3)), "no data"),
        ("chunked-cut", Always(TruncatedChunked(after_bytes=20_000)), "cut short"),
        ("not-gzip", NotGzip(), "not a gzip archive"),
        ("corrupt-gzip", Always(CorruptGzip()), "not a valid gzip stream"),
    ],
)
def test_persistent_download_fault_fails_that_job(
    tmp_path: Path, name: str, fault: Fault, message: str
) -> None:
    fleet, groups = _fleet(1, 4)
    bad, *good = fleet.groups[groups[0]]
    with EmulatorThread(fleet, chunk_size=8 * 1024) as emu:
        emu.state.add_download_faults(bad.id, [fault])
        code, stderr = _run(tmp_path, emu, groups)
        attempts = emu.state.counters.downloads_by_job[bad.id]
    assert code == 1, stderr
    out = tmp_path / "out" / groups[0]
    assert not (out / f"{bad.id}.tar.gz").exists()
    assert not list(out.glob("*.part"))
    for job in good:
        assert (out / f"{job.id}.tar.gz").read_bytes() == served_archive(fleet, groups[0], job.id)
    failed = [line for line in read_manifest(tmp_path / "out") if line["outcome"] == "failed"]
    assert [line["jobId"] for line in failed] == [bad.id]
    assert message in failed[0]["error"]
    assert f"job {bad.id}" in stderr
    # Retries = 3; the same corrupt bytes twice are a verdict on them, not retried again.
    inner = fault.fault if isinstance(fault, Always) else fault
    expected_attempts = {NotGzip: 1, CorruptGzip: 2}.get(type(inner), 4)
    assert failed[0]["attempts"] == expected_attempts
    assert attempts == expected_attempts


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Always(ServerFault(500)), "HTTP 500"),
        (HtmlPage(200), "not JSON (an HTML page"),
        (NotJson(), "is not JSON"),
        (MissingResults(), "no 'results' list"),
        (Always(RepeatingNext()), "'next' link repeats"),
        (Always(HtmlPage(502)), "HTTP 502: an HTML page instead of an API answer"),
    ],
)
def test_bad_listing_fails_that_group(tmp_path: Path, fault: Fault, message: str) -> None:
    fleet, groups = _fleet(2, 2)
    bad, good = groups
    with EmulatorThread(fleet) as emu:
        emu.state.add_listing_faults(bad, [fault])
        code, stderr = _run(tmp_path, emu, groups)
        pages = emu.state.counters.list_requests_by_group[bad]
    assert code == 1, stderr
    assert pages <= 8  # bounded: no endless loop on a repeating link
    assert f"group {bad}" in stderr
    assert message in stderr
    assert not (tmp_path / "out" / bad).exists()
    assert len(list((tmp_path / "out" / good).glob("*.tar.gz"))) == 2
    failed = [line for line in read_manifest(tmp_path / "out") if line["outcome"] == "failed"]
    assert [(line["groupId"], line["jobId"]) for line in failed] == [(bad, None)]


def test_stale_nonce_mid_run_costs_one_challenge(tmp_path: Path) -> None:
    """All nonces expire mid-run: the middleware answers the stale challenge; exit 0."""
    fleet, groups = _fleet(1, 6)
    jobs = fleet.groups[groups[0]]
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(jobs[3].id, [StaleNonce()])
        code, stderr = _run(tmp_path, emu, groups, "--concurrency", "1")
        counters = emu.state.counters
        assert code == 0, stderr
        assert counters.faults_served["StaleNonce"] == 1
        assert counters.challenges <= 3
    assert len(list((tmp_path / "out").rglob("*.tar.gz"))) == 6
