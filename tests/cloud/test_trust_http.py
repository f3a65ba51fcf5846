"""Trust on the wire, through the CLI against the emulator: only real archives are kept, a 401
without a challenge fails only what it answered, Digest is found among several challenges,
real servers' `next` links are followed, proxies are honoured, a trickling body is cut."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trustme

from bulkdl.cloud.client import follow_next
from bulkdl.cloud.proxies import bypasses_proxy, env_proxies, proxy_for
from bulkdl.cloud.transport import digest_challenge
from bulkdl.domain.archive_head import NotArchive, TarGzSniffer
from bulkdl.domain.rate_floor import RateFloor
from bulkdl.emulator import (
    Always,
    ChangedArchive,
    EmulatorThread,
    Fault,
    Fleet,
    ForeignNext,
    GzipNotTar,
    GzippedHtml,
    LongerBody,
    NoChallenge,
    RelativeNext,
    Stall,
    Trickle,
    add_group,
    make_archive,
    parse_fault_spec,
)
from tests.conftest import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    CliResult,
    prerender,
    read_manifest,
    run_cli,
    served_archive,
    write_config,
)
from tests.proxy import ForwardProxy

NO_PROXY_ENV = dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"), "")


def _fleet(n_groups: int = 1, jobs: int = 4, archive_bytes: int = 64 * 1024) -> Fleet:
    fleet = Fleet(keys={PUBLIC_KEY: PRIVATE_KEY})
    for i in range(n_groups):
        add_group(fleet, n_jobs=jobs, statuses=["SUCCESS"], archive_bytes=archive_bytes, seed=i)
    return fleet


def _download(
    tmp_path: Path,
    emu: EmulatorThread,
    *extra: str,
    env: dict[str, str] | None = None,
    **keys: object,
) -> CliResult:
    defaults: dict[str, object] = {"retries": 2, "retry_backoff_s": 0.01, "stall_timeout_s": 5}
    tmp_path.mkdir(exist_ok=True)
    cfg = write_config(
        tmp_path / "c.toml",
        base_url=emu.base_url,
        groups=list(emu.fleet.groups),
        **{**defaults, **keys},
    )
    result = run_cli(
        ["download", "--config", str(cfg), "--out", str(tmp_path / "out"), *extra],
        env={**NO_PROXY_ENV, **(env or {})},
    )
    assert "Traceback" not in result.output
    assert PRIVATE_KEY not in result.output
    return result


def _assert_all_but(tmp_path: Path, fleet: Fleet, bad: set[str]) -> None:
    """Every job but `bad` byte-exact on disk; `bad` with no final file; no .part anywhere."""
    out = tmp_path / "out"
    for gid, jobs in fleet.groups.items():
        for job in jobs:
            path = out / gid / f"{job.id}.tar.gz"
            if job.id in bad:
                assert not path.exists(), path
            else:
                assert path.read_bytes() == served_archive(fleet, gid, job.id), path
    assert not list(out.rglob("*.part"))


# 4. Only real archives -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (GzippedHtml(), "an HTML page (text/html"),
        (GzipNotTar(), "gzip, but not of a tar archive"),
    ],
)
def test_a_page_that_is_not_a_tar_gz_is_refused(tmp_path: Path, fault: Fault, message: str) -> None:
    """A gzipped login page (labelled HTML, or labelled gzip) never becomes an archive."""
    fleet = _fleet()
    bad = fleet.groups[next(iter(fleet.groups))][0]
    with EmulatorThread(fleet, chunk_size=8 * 1024) as emu:
        emu.state.add_download_faults(bad.id, [Always(fault)])
        result = _download(tmp_path, emu)
        attempts = emu.state.counters.downloads_by_job[bad.id]
    assert result.exit_code == 1, result.output
    _assert_all_but(tmp_path, fleet, {bad.id})
    (line,) = [m for m in read_manifest(tmp_path / "out") if m["outcome"] == "failed"]
    assert line["jobId"] == bad.id
    assert message in line["error"]
    assert attempts == line["attempts"] == 1  # a refusal is not retried


def test_resume_without_validator_restarts_instead_of_splicing(tmp_path: Path) -> None:
    """Cut mid-body with no ETag/Last-Modified, then the archive changes: the file is the new
    archive whole, fetched from byte 0 (a Range would have spliced the two)."""
    fleet = _fleet(jobs=2)
    gid = next(iter(fleet.groups))
    job = fleet.groups[gid][0]
    old = make_archive(job)
    with EmulatorThread(fleet, chunk_size=8 * 1024, chunk_delay_s=0.002) as emu:
        emu.state.add_download_faults(job.id, [ChangedArchive(after_bytes=30_000)])
        result = _download(tmp_path, emu)
        counters = emu.state.counters
    assert result.exit_code == 0, result.output
    new = served_archive(fleet, gid, job.id)
    assert new != old
    assert (tmp_path / "out" / gid / f"{job.id}.tar.gz").read_bytes() == new
    assert counters.downloads_by_job[job.id] == 2
    assert counters.responses_by_status[206] == 0  # no Range was sent
    assert counters.faults_served["ChangedArchive"] == 1


@pytest.mark.parametrize("archive_bytes", [16 * 1024, 256 * 1024])
def test_body_longer_than_content_length_is_not_kept(tmp_path: Path, archive_bytes: int) -> None:
    """Bytes past Content-Length fail the attempt: once, it is retried and lands byte-exact;
    always, the job fails with nothing under its name. (Small bodies arrive with the extra
    bytes in one read, large ones in several: both ways are covered.)"""
    fleet = _fleet(jobs=3, archive_bytes=archive_bytes)
    gid = next(iter(fleet.groups))
    once, always, fine = fleet.groups[gid]
    with EmulatorThread(fleet, chunk_size=64 * 1024) as emu:
        emu.state.add_download_faults(once.id, [LongerBody(100)])
        emu.state.add_download_faults(always.id, [Always(LongerBody(100))])
        result = _download(tmp_path, emu)
        counters = emu.state.counters
    assert result.exit_code == 1, result.output
    _assert_all_but(tmp_path, fleet, {always.id})
    assert counters.downloads_by_job[once.id] == 2
    assert counters.downloads_by_job[always.id] == 3  # retries = 2
    assert counters.downloads_by_job[fine.id] == 1  # no stray bytes reached its connection
    assert fine.id not in result.stderr.replace(f"{fine.id}.tar.gz", "")
    (line,) = [m for m in read_manifest(tmp_path / "out") if m["outcome"] == "failed"]
    assert line["jobId"] == always.id
    assert "Content-Length" in line["error"] or "not valid HTTP" in line["error"]
    assert "\\x" not in result.output  # aiohttp's quote of the stray bytes is not shown


def test_server_closing_after_a_large_body_is_not_misframing(tmp_path: Path) -> None:
    """Multi-MiB bodies, written slower than they arrive: the server may close its end once it
    has sent everything. That is not a body longer than its Content-Length: no retry, exit 0.
    (A real regression: every archive over a few MiB failed as "misframed".)"""
    fleet = _fleet(n_groups=2, jobs=2, archive_bytes=3 * 1024 * 1024)
    with EmulatorThread(fleet) as emu:
        prerender(emu, fleet)
        result = _download(tmp_path, emu, "--concurrency", "4")
        downloads = sum(emu.state.counters.downloads_by_job.values())
    assert result.exit_code == 0, result.output
    assert "retrying" not in result.stderr
    assert downloads == 4  # one attempt each
    _assert_all_but(tmp_path, fleet, set())


def test_sniffer_reads_only_the_start() -> None:
    archive = make_archive(_fleet(jobs=1).groups.popitem()[1][0])
    sniffer = TarGzSniffer()
    for i in range(0, 40):  # one byte at a time, as a trickle delivers it
        sniffer.feed(archive[i : i + 1])
    sniffer.feed(archive[40:4096])
    assert sniffer.done
    page = TarGzSniffer()
    page.feed(b"<html>")  # fewer than 16 bytes: refused at the end, naming all of them
    with pytest.raises(NotArchive, match=r"not a gzip archive \(it starts with b'<html>'\)"):
        page.end()
    with pytest.raises(NotArchive, match=r"starts with b'<html><body>Sign'\)"):
        TarGzSniffer().feed(b"<html><body>Sign in")
    short = TarGzSniffer()
    short.feed(archive[:5])
    with pytest.raises(NotArchive, match="before a whole tar header"):
        short.end()


# 9. Auth ----------------------------------------------------------------------------------


def test_401_without_challenge_fails_only_that_job_and_group(tmp_path: Path) -> None:
    fleet = _fleet(n_groups=2, jobs=3)
    g1, g2 = fleet.groups
    bad = fleet.groups[g1][0]
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(bad.id, [Always(NoChallenge())])
        emu.state.add_listing_faults(g2, [Always(NoChallenge())])
        result = _download(tmp_path, emu)
    assert result.exit_code == 1, result.output  # not 2: the key pair was not rejected
    assert "rejected the key pair" not in result.output
    out = tmp_path / "out"
    for job in fleet.groups[g1][1:]:
        assert (out / g1 / f"{job.id}.tar.gz").read_bytes() == served_archive(fleet, g1, job.id)
    failed = {(m["groupId"], m["jobId"]): m for m in read_manifest(out) if m["outcome"] == "failed"}
    assert set(failed) == {(g1, bad.id), (g2, None)}
    for line in failed.values():
        assert "without a digest challenge" in line["error"]


@pytest.mark.parametrize("key", [PRIVATE_KEY, "wrong-key"])
def test_basic_challenge_listed_before_digest(tmp_path: Path, key: str) -> None:
    """Digest is answered wherever it is listed; a wrong key is still a rejected key (exit 2)."""
    fleet = _fleet(jobs=2)
    with EmulatorThread(fleet) as emu:
        emu.state.offer_challenges_first('Basic realm="gateway"', 'Bearer realm="sso"')
        result = _download(tmp_path, emu, env={"BULKDL_PRIVATE_KEY": key})
        counters = emu.state.counters
    assert counters.challenges >= 1
    if key == PRIVATE_KEY:
        assert result.exit_code == 0, result.output
        _assert_all_but(tmp_path, fleet, set())
    else:
        assert result.exit_code == 2, result.output
        assert "rejected the key pair" in result.stderr


def test_digest_challenge_is_found_in_any_position() -> None:
    digest = 'Digest realm="MMS Public API", nonce="n", qop="auth"'
    assert digest_challenge([digest]) == digest
    assert digest_challenge(['Basic realm="x"', digest]) == digest
    assert digest_challenge([f'Basic realm="x", {digest}']) == digest
    assert digest_challenge(['Basic realm="x"']) is None


# 10. Pagination ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["relative", "foreign"])
def test_relative_and_foreign_next_links_are_followed(tmp_path: Path, kind: str) -> None:
    """501 jobs: two pages of 500. Page 1's `next` is relative, or names another origin; both
    lead to page 2 on base_url's origin, and the other origin never hears from us."""
    fleet = Fleet(keys={PUBLIC_KEY: PRIVATE_KEY})
    gid = add_group(fleet, n_jobs=501, statuses=["SUCCESS"], archive_bytes=2048)
    with EmulatorThread(Fleet()) as central, EmulatorThread(fleet) as emu:
        fault = RelativeNext() if kind == "relative" else ForeignNext(central.base_url)
        emu.state.add_listing_faults(gid, [fault])
        result = _download(tmp_path, emu, "--dry-run", "--json")
        assert central.state.counters.requests == 0
        counters = emu.state.counters
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["groups"][0]["statuses"] == {"SUCCESS": 501}
    assert counters.list_requests_by_group[gid] == 2
    assert counters.faults_served[type(fault).__name__] == 1


def test_follow_next_stays_on_base_origin() -> None:
    base = "https://om.example:8443"
    page = f"{base}/api/public/v1.0/groups/g/logCollectionJobs?pageNum=1"
    assert follow_next(base, page, "logCollectionJobs?pageNum=2") == (
        f"{base}/api/public/v1.0/groups/g/logCollectionJobs?pageNum=2"
    )
    assert follow_next(base, page, "?pageNum=2") == (
        f"{base}/api/public/v1.0/groups/g/logCollectionJobs?pageNum=2"
    )
    assert follow_next(base, page, "https://central.internal/api/x?pageNum=2") == (
        f"{base}/api/x?pageNum=2"
    )


# 11. Proxies ------------------------------------------------------------------------------


def test_http_proxy_from_the_environment_carries_digest(tmp_path: Path) -> None:
    fleet = _fleet(jobs=3)
    with ForwardProxy() as proxy, EmulatorThread(fleet) as emu:
        result = _download(tmp_path, emu, env={"http_proxy": proxy.url})
        served = emu.state.counters.requests
    assert result.exit_code == 0, result.output
    _assert_all_but(tmp_path, fleet, set())
    assert proxy.forwarded == served > 0  # every request went through the proxy
    assert all(t.startswith(emu.base_url) for t in proxy.targets)


def test_only_our_digest_reaches_the_server(tmp_path: Path) -> None:
    """A ~/.netrc entry for the server (aiohttp's trust_env would send it as Basic) and proxy
    credentials: the server sees Digest and nothing else."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    netrc.chmod(0o600)
    fleet = _fleet(jobs=2)
    with ForwardProxy(credentials=("alice", "s3cret")) as proxy, EmulatorThread(fleet) as emu:
        url = proxy.url.replace("http://", "http://alice:s3cret@")
        env = {"NETRC": str(netrc), "HOME": str(tmp_path), "HTTP_PROXY": url}
        result = _download(tmp_path, emu, env=env)
        counters = emu.state.counters
    assert result.exit_code == 0, result.output
    assert proxy.forwarded == counters.requests
    assert set(counters.authorization_schemes) == {"digest"}


def test_no_proxy_bypasses_it(tmp_path: Path) -> None:
    fleet = _fleet(jobs=2)
    with ForwardProxy() as proxy, EmulatorThread(fleet) as emu:
        result = _download(
            tmp_path, emu, env={"HTTP_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.1"}
        )
    assert result.exit_code == 0, result.output
    assert proxy.forwarded == 0
    _assert_all_but(tmp_path, fleet, set())


def test_flag_beats_key_beats_environment(tmp_path: Path) -> None:
    """A dead proxy at the lower levels: only the winning one is used."""
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    fleet = _fleet(jobs=1)
    with ForwardProxy() as proxy, EmulatorThread(fleet) as emu:
        by_key = _download(tmp_path, emu, env={"HTTP_PROXY": dead}, proxy=proxy.url)
        after_key = proxy.forwarded
        by_flag = _download(
            tmp_path / "f", emu, "--proxy", proxy.url, env={"HTTP_PROXY": dead}, proxy=dead
        )
    assert by_key.exit_code == 0, by_key.output
    assert by_flag.exit_code == 0, by_flag.output
    assert 0 < after_key < proxy.forwarded


@pytest.mark.parametrize("refusal", ["407", "403"])
def test_a_refusing_proxy_is_one_line_and_exit_2(tmp_path: Path, refusal: str) -> None:
    fleet = _fleet(jobs=2)
    secret = "pr0xy-pa55word"
    with (
        ForwardProxy(credentials=("alice", "right"), refuse=refusal == "403") as proxy,
        EmulatorThread(fleet) as emu,
    ):
        url = proxy.url.replace("http://", f"http://alice:{secret}@")
        result = _download(tmp_path, emu, "--proxy", url)
        reached = emu.state.counters.requests
    assert result.exit_code == 2, result.output
    assert reached == 0
    assert proxy.refused >= 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: proxy {proxy.url} refused the request to {emu.base_url} (HTTP {refusal})"
    ]
    assert secret not in result.output
    assert not list((tmp_path / "out").rglob("*.tar.gz"))


def test_https_through_a_connect_tunnel(tmp_path: Path) -> None:
    """https via HTTPS_PROXY: a CONNECT tunnel, TLS verified end to end, Digest inside it."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    fleet = _fleet(jobs=2)
    with ForwardProxy() as proxy, EmulatorThread(fleet, ssl_context=server_ctx) as emu:
        env = {"HTTPS_PROXY": proxy.tunnel_url, "HTTP_PROXY": "http://127.0.0.1:9"}
        result = _download(tmp_path, emu, env=env, ca_file=str(tmp_path / "ca.pem"))
        counters = emu.state.counters
    assert emu.base_url.startswith("https://")
    assert result.exit_code == 0, result.output
    _assert_all_but(tmp_path, fleet, set())
    assert proxy.tunnels >= 1
    assert proxy.forwarded == 0  # nothing went in the clear
    assert set(counters.authorization_schemes) == {"digest"}


@pytest.mark.parametrize("refusal", ["407", "403"])
def test_a_refused_tunnel_is_one_line_and_exit_2(tmp_path: Path, refusal: str) -> None:
    """https through the proxy is a CONNECT tunnel; a refused one names proxy and target."""
    with ForwardProxy(credentials=("alice", "right"), refuse=refusal == "403") as proxy:
        url = proxy.url.replace("http://", "http://alice:pr0xy-pa55@")
        args = ["--group", "5" * 24, "--out", str(tmp_path / "out"), "--proxy", url]
        result = run_cli(["download", "--base-url", "https://127.0.0.1:9", *args])
    assert result.exit_code == 2, result.output
    assert proxy.refused >= 1
    assert result.stderr.splitlines()[0] == (
        f"error: proxy {proxy.url} refused the connection to 127.0.0.1:9 (HTTP {refusal})"
    )
    assert "pr0xy-pa55" not in result.output


def test_an_unreachable_proxy_is_exit_2_without_its_password(tmp_path: Path) -> None:
    args = ["--group", "5" * 24, "--out", str(tmp_path / "out")]
    result = run_cli(
        ["download", "--base-url", "http://127.0.0.1:9", *args],
        env={**NO_PROXY_ENV, "HTTP_PROXY": "http://bob:hunter2@127.0.0.1:9"},
    )
    assert result.exit_code == 2, result.output
    assert "error: group" in result.stderr
    assert "cannot connect to the proxy http://127.0.0.1:9" in result.stderr
    assert "hunter2" not in result.output


def test_proxy_with_the_right_credentials(tmp_path: Path) -> None:
    fleet = _fleet(jobs=2)
    with ForwardProxy(credentials=("alice", "s3cret")) as proxy, EmulatorThread(fleet) as emu:
        url = proxy.url.replace("http://", "http://alice:s3cret@")
        result = _download(tmp_path, emu, "--proxy", url)
    assert result.exit_code == 0, result.output
    assert proxy.forwarded > 0
    assert proxy.refused == 0
    assert "s3cret" not in result.output


def test_proxy_choice_rules() -> None:
    env = env_proxies(
        {"https_proxy": "http://p:1", "HTTP_PROXY": "q:2", "no_proxy": ".corp,db:5000"}
    )
    assert proxy_for("https://cloud.mongodb.com/x", None, env) == "http://p:1"
    assert proxy_for("http://om.example/x", None, env) == "http://q:2"  # no scheme: http://
    assert proxy_for("https://om.corp/x", None, env) is None
    assert proxy_for("https://om.corp/x", "http://flag:3", env) is None  # NO_PROXY still wins
    assert proxy_for("https://cloud.mongodb.com/x", "http://flag:3", env) == "http://flag:3"
    assert bypasses_proxy("db", 5000, "db:5000")
    assert not bypasses_proxy("db", 5001, "db:5000")
    assert bypasses_proxy("anything", None, "*")


def test_unusable_proxy_variable_is_a_config_error(tmp_path: Path) -> None:
    args = ["--base-url", "http://127.0.0.1:9", "--group", "5" * 24, "--out", str(tmp_path)]
    result = run_cli(["download", *args], env={**NO_PROXY_ENV, "HTTP_PROXY": "socks5://u:pw@h:1"})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: HTTP_PROXY: proxy must be an http(s)://host:port URL")
    assert "pw@" not in result.output


def test_bad_proxy_url_is_a_config_error(tmp_path: Path) -> None:
    result = run_cli(
        [
            "download",
            "--base-url",
            "http://127.0.0.1:9",
            "--group",
            "5" * 24,
            "--out",
            str(tmp_path),
            "--proxy",
            "socks5://user:pw@h:1",
        ]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --proxy: proxy must be an http(s)://host:port URL")
    assert "pw@" not in result.output


# 12. Minimum rate -------------------------------------------------------------------------


def test_a_trickling_body_is_cut_and_resumed(tmp_path: Path) -> None:
    """16 bytes every 20 ms (800 B/s) never trips the 5 s stall timeout; below 4 KiB/s over
    0.5 s it is cut, retried, and resumed with Range to a byte-exact archive."""
    fleet = _fleet(jobs=2)
    gid = next(iter(fleet.groups))
    slow = fleet.groups[gid][0]
    archive = served_archive(fleet, gid, slow.id)
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(slow.id, [Trickle(16, 0.02)])
        result = _download(tmp_path, emu, min_rate_bytes_s=4096, min_rate_window_s=0.5)
        counters = emu.state.counters
    other = served_archive(fleet, gid, fleet.groups[gid][1].id)
    assert result.exit_code == 0, result.output
    _assert_all_but(tmp_path, fleet, set())
    assert counters.downloads_by_job[slow.id] == 2
    assert counters.responses_by_status[206] == 1  # the second attempt resumed
    # The trickled part, then only the rest (a restart would send the ~400 B again); the
    # server may have written a chunk or two the client no longer read.
    assert 0 <= counters.bytes_sent - len(archive) - len(other) <= 64
    assert "below min_rate_bytes_s" in result.stderr


def test_a_silent_body_is_cut_by_the_minimum_rate_before_the_stall_timeout(tmp_path: Path) -> None:
    """Silence after the first bytes: no chunk arrives to be judged, yet the minimum rate
    (a timer, not a per-chunk check) cuts the body long before the 5 s stall timeout and
    well before the 3 s silence ends; the retry resumes it to a byte-exact archive."""
    fleet = _fleet(jobs=2, archive_bytes=256 * 1024)
    gid = next(iter(fleet.groups))
    silent = fleet.groups[gid][0]
    with EmulatorThread(fleet, chunk_size=16 * 1024) as emu:
        emu.state.add_download_faults(silent.id, [Stall(after_bytes=32 * 1024, seconds=3)])
        result = _download(tmp_path, emu, min_rate_bytes_s=4096, min_rate_window_s=0.5)
        counters = emu.state.counters
    assert result.exit_code == 0, result.output
    _assert_all_but(tmp_path, fleet, set())
    assert counters.downloads_by_job[silent.id] == 2
    assert counters.responses_by_status[206] == 1  # the second attempt resumed
    assert "below min_rate_bytes_s" in result.stderr
    assert "no data" not in result.stderr  # not the stall timeout's doing


def test_a_body_that_always_trickles_fails_that_job(tmp_path: Path) -> None:
    fleet = _fleet(jobs=2)
    slow = fleet.groups[next(iter(fleet.groups))][0]
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(slow.id, [Always(Trickle(8, 0.02))])
        result = _download(tmp_path, emu, min_rate_bytes_s=4096, min_rate_window_s=0.3, retries=1)
    assert result.exit_code == 1, result.output
    _assert_all_but(tmp_path, fleet, {slow.id})
    (line,) = [m for m in read_manifest(tmp_path / "out") if m["outcome"] == "failed"]
    assert "below min_rate_bytes_s" in line["error"]
    assert line["attempts"] == 2


def test_rate_floor_judges_whole_windows() -> None:
    floor = RateFloor(1000, 10.0, now=0.0)
    assert floor.too_slow(500, 5.0) is None  # the window is not over yet
    assert floor.too_slow(20_000, 10.0) is None  # 2000 B/s: fine, a new window starts
    assert floor.too_slow(25_000, 20.0) == pytest.approx(500.0)
    assert RateFloor(0, 1.0, now=0.0).too_slow(0, 100.0) is None  # 0 turns it off


# Settings and fault spellings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"min_rate_bytes_s": -1}, "min_rate_bytes_s must be at least 0"),
        ({"min_rate_window_s": 0}, "min_rate_window_s must be more than 0"),
        ({"proxy": "proxy.example:3128"}, "proxy must be an http(s)://host:port URL"),
    ],
)
def test_new_keys_are_checked(tmp_path: Path, keys: dict[str, object], message: str) -> None:
    cfg = write_config(
        tmp_path / "c.toml", base_url="http://127.0.0.1:9", groups=["5" * 24], **keys
    )
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: config file {cfg}: {message}")


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("gzipped-html", GzippedHtml()),
        ("gzip-not-tar", GzipNotTar()),
        ("changed-archive:1000", ChangedArchive(1000)),
        ("longer-body:100", LongerBody(100)),
        ("trickle:16:0.05", Trickle(16, 0.05)),
        ("always:no-challenge", Always(NoChallenge())),
        ("relative-next", RelativeNext()),
        ("foreign-next:http://central.example:8080", ForeignNext("http://central.example:8080")),
    ],
)
def test_new_fault_specs(spec: str, fault: Fault) -> None:
    assert parse_fault_spec(spec) == fault
