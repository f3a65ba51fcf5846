"""Redirects (issue 21, point 7): a loop is named as such and not retried; an https download is
never followed to plain http:// unless allow_http_redirect is set, and then a line says so.
Through the CLI against the emulator (one over TLS with a private CA)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from bulkdl.emulator import Always, EmulatorThread, Fleet, Redirect
from tests.conftest import make_fleet, run_cli, write_config


def test_a_redirect_loop_is_named_and_not_retried(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=1)
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job.id, [Always(Redirect(emu.base_url))])
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, retry_backoff_s=0.01)
        result = run_cli(["download", "--config", str(cfg), "--group", gid, "--out", str(tmp_path)])
        hops = emu.state.counters.downloads_by_job[job.id]
    assert result.exit_code == 1, result.output
    assert "a redirect loop (10 redirects, the last to " in result.stderr
    assert "not valid HTTP" not in result.stderr
    assert hops == 10  # one attempt's hops (aiohttp's limit), not six attempts' worth


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_home(ca: trustme.CA) -> Iterator[tuple[EmulatorThread, Fleet]]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    fleet = make_fleet(groups=1, jobs_per_group=1)
    with EmulatorThread(fleet, ssl_context=server_ctx) as emu:
        yield emu, fleet


@pytest.mark.parametrize("allow", [False, True])
def test_https_to_http_is_refused_unless_allowed(
    tmp_path: Path, ca: trustme.CA, tls_home: tuple[EmulatorThread, Fleet], allow: bool
) -> None:
    home, fleet = tls_home
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    with EmulatorThread(make_fleet(groups=1, jobs_per_group=1)) as plain:
        home.state.add_download_faults(job.id, [Always(Redirect(plain.base_url))])
        cfg = write_config(
            tmp_path / "c.toml",
            base_url=home.base_url,
            ca_file=str(pem),
            allow_http_redirect=allow,
            retries=0,
        )
        out = tmp_path / "out"
        result = run_cli(["download", "--config", str(cfg), "--group", gid, "--out", str(out)])
        reached = plain.state.counters.requests
    assert result.exit_code == 1, result.output  # refused, or the other origin's 401
    if allow:
        assert reached >= 1
        assert (
            f"warning: following a redirect from https to plain {plain.base_url} "
            "(allow_http_redirect)" in result.stderr
        )
    else:
        assert reached == 0
        assert f"redirected from https to plain {plain.base_url}: not followed" in result.stderr
    assert not list(out.rglob("*.tar.gz"))
