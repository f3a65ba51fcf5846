"""Security defaults: TLS verified (private CA via ca_file), --insecure only on request, no
credentials to another origin on a redirect, and the private key in no output at all."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from bulkdl.emulator import Always, EmulatorThread, Redirect, ResetAfter, ServerFault
from tests.conftest import PRIVATE_KEY, make_fleet, read_manifest, run_cli, write_config


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_emulator(ca: trustme.CA) -> Iterator[EmulatorThread]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    with EmulatorThread(make_fleet(groups=2), ssl_context=server_ctx) as emu:
        yield emu


def test_tls_with_private_ca(tmp_path: Path, ca: trustme.CA, tls_emulator: EmulatorThread) -> None:
    """An Ops Manager behind a private CA: ca_file makes it verify; archives land."""
    assert tls_emulator.base_url.startswith("https://")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cfg = write_config(
        tmp_path / "c.toml",
        base_url=tls_emulator.base_url,
        groups=list(tls_emulator.fleet.groups),
        ca_file="ca.pem",
    )
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").rglob("*.tar.gz"))) == 8


def test_tls_unknown_ca_is_refused(tmp_path: Path, tls_emulator: EmulatorThread) -> None:
    """Verification is on by default: an unknown CA stops the run with one clear line."""
    cfg = write_config(
        tmp_path / "c.toml", base_url=tls_emulator.base_url, groups=list(tls_emulator.fleet.groups)
    )
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "TLS certificate of 127.0.0.1" in result.stderr
    assert "could not be verified" in result.stderr
    assert "Traceback" not in result.output
    assert tls_emulator.state.counters.requests == 0  # no request got through the handshake


def test_insecure_only_when_asked_and_warns(tmp_path: Path, tls_emulator: EmulatorThread) -> None:
    cfg = write_config(
        tmp_path / "c.toml", base_url=tls_emulator.base_url, groups=list(tls_emulator.fleet.groups)
    )
    result = run_cli(
        ["download", "--config", str(cfg), "--out", str(tmp_path / "out"), "--insecure"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: --insecure: TLS certificates are not verified" in result.stderr


def test_redirect_to_another_origin_gets_no_credentials(tmp_path: Path) -> None:
    """A download redirected to another host: no Authorization header goes there."""
    fleet = make_fleet(groups=1, jobs_per_group=1)
    gid = next(iter(fleet.groups))
    job = fleet.groups[gid][0]
    with (
        EmulatorThread(make_fleet(groups=1, jobs_per_group=1)) as elsewhere,
        EmulatorThread(fleet) as home,
    ):
        home.state.add_download_faults(job.id, [Redirect(elsewhere.base_url)])
        result = run_cli(
            [
                "download",
                "--base-url",
                home.base_url,
                "--group",
                gid,
                "--out",
                str(tmp_path / "out"),
            ]
        )
        assert elsewhere.state.counters.requests >= 1  # the redirect was followed
        assert elsewhere.state.counters.authorization_headers == 0
        assert home.state.counters.authorization_headers >= 1
    assert result.exit_code == 1, result.output
    assert f"redirected to {elsewhere.base_url}" in result.stderr
    assert not list((tmp_path / "out").rglob("*.tar.gz"))


def test_private_key_in_no_output_even_on_failures(tmp_path: Path) -> None:
    """Every output and every file, across failures, --debug and tracebacks: no private key."""
    fleet = make_fleet(groups=2, jobs_per_group=3)
    g1, g2 = fleet.groups
    fleet.not_in_group.add(g2)
    out = tmp_path / "out"
    outputs: list[str] = []
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(fleet.groups[g1][0].id, [Always(ResetAfter(100))])
        emu.state.add_listing_faults(g1, [ServerFault(500)])
        cfg = write_config(
            tmp_path / "c.toml",
            base_url=emu.base_url,
            groups=[g1, g2],
            retries=1,
            retry_backoff_s=0.01,
        )
        for extra in ([], ["--debug"], ["--json"], ["--quiet"]):
            result = run_cli(["download", "--config", str(cfg), "--out", str(out), *extra])
            outputs.append(result.output)
        # A rejected key with --debug prints the traceback: it must not hold the key either.
        wrong = "wrong-" + PRIVATE_KEY[::-1]
        rejected = run_cli(
            ["download", "--config", str(cfg), "--out", str(out), "--debug"],
            env={"BULKDL_PRIVATE_KEY": wrong},
        )
        assert "Traceback" in rejected.stderr
        outputs.append(rejected.output)
        assert wrong not in outputs[-1]
    for text in outputs:
        assert PRIVATE_KEY not in text
    assert any("failed" in text for text in outputs)
    for path in [*out.rglob("*"), tmp_path / "c.toml"]:
        if path.is_file():
            assert PRIVATE_KEY.encode() not in path.read_bytes()
    assert read_manifest(out)
