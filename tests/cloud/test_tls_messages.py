"""A TLS failure says which check failed (issue 21, point 13): an unknown CA, a name mismatch or
an expired certificate, each with its own way forward; ca_file is hinted at only when the CA
is what is missing. Through the CLI against the emulator over TLS (trustme certificates)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, run_cli, write_config


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _serve(cert: trustme.LeafCert) -> EmulatorThread:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return EmulatorThread(make_fleet(groups=1), ssl_context=ctx)


def _groups(tmp_path: Path, emu: EmulatorThread, ca: trustme.CA | None) -> list[str]:
    keys: dict[str, object] = {"base_url": emu.base_url}
    if ca is not None:
        pem = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(pem))
        keys["ca_file"] = str(pem)
    cfg = write_config(tmp_path / "c.toml", **keys)
    result = run_cli(["groups", "--config", str(cfg)])
    assert result.exit_code == 2, result.output
    return result.stderr.splitlines()[:2]


@pytest.fixture
def emu_for_localhost_only(ca: trustme.CA) -> Iterator[EmulatorThread]:
    with _serve(ca.issue_cert("localhost")) as emu:  # base_url says 127.0.0.1
        yield emu


def test_unknown_ca(tmp_path: Path, ca: trustme.CA) -> None:
    with _serve(ca.issue_cert("127.0.0.1")) as emu:
        error, hint = _groups(tmp_path, emu, None)
    assert "could not be verified: unable to get local issuer certificate" in error
    assert "point ca_file at" in hint


def test_name_mismatch_with_the_right_ca_file(
    tmp_path: Path, ca: trustme.CA, emu_for_localhost_only: EmulatorThread
) -> None:
    error, hint = _groups(tmp_path, emu_for_localhost_only, ca)
    assert "could not be verified: IP address mismatch" in error
    assert "issued for another name" in hint
    assert "point ca_file at" not in hint


def test_expired_with_the_right_ca_file(tmp_path: Path, ca: trustme.CA) -> None:
    past = datetime.now(UTC) - timedelta(days=30)
    cert = ca.issue_cert("127.0.0.1", not_before=past - timedelta(days=1), not_after=past)
    with _serve(cert) as emu:
        error, hint = _groups(tmp_path, emu, ca)
    assert "could not be verified: certificate has expired" in error
    assert "renewed" in hint
    assert "point ca_file at" not in hint
