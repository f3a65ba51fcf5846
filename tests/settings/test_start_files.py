"""The files a run starts from are bounded (issue 21, points 8 and 13): a private key file must
be a regular file of sane size (a FIFO hung the start, a 300 MB file was read whole), and a
config that starts with a UTF-8 BOM is named as such. Each: one line, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_config

ARGS = ["groups", "--base-url", "http://127.0.0.1:9"]  # never reached: the start fails first


def _key_config(tmp_path: Path, key_file: Path) -> list[str]:
    cfg = write_config(tmp_path / "c.toml", public_key="pub", private_key_file=str(key_file))
    return [*ARGS, "--config", str(cfg)]


def _env() -> dict[str, str]:
    return {"BULKDL_PUBLIC_KEY": "", "BULKDL_PRIVATE_KEY": ""}


def test_a_fifo_key_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "key"
    os.mkfifo(fifo, 0o600)
    result = run_cli(_key_config(tmp_path, fifo), env=_env())
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.endswith(f"private_key_file {fifo}: not a regular file (a FIFO)")


def test_a_huge_key_file_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "key"
    with huge.open("wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: 300 MB that cost nothing to make
    huge.chmod(0o600)
    result = run_cli(_key_config(tmp_path, huge), env=_env())
    assert result.exit_code == 2, result.output
    assert f"private_key_file {huge}: 314572800 bytes, more than such a file holds" in (
        result.stderr
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_a_config_with_a_bom_is_named(tmp_path: Path, as_json: bool) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'\xef\xbb\xbfbase_url = "http://127.0.0.1:9"\n')
    result = run_cli([*ARGS, "--config", str(cfg), *(["--json"] if as_json else [])])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        f"error: config file {cfg} starts with a UTF-8 byte-order mark (BOM), which TOML forbids"
    )
    assert "without BOM" in result.stderr.splitlines()[1]


def test_a_fifo_config_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    result = run_cli([*ARGS, "--config", str(fifo)])
    assert result.exit_code == 2, result.output
    assert f"config file {fifo}: not a regular file (a FIFO)" in result.stderr


def test_collect_from_too_far_back_names_from(tmp_path: Path) -> None:
    result = run_cli(
        [
            *("collect", "--base-url", "http://127.0.0.1:9", "--all-groups"),
            *("--resource-type", "replicaset", "--resource-name", "rs0", "--log-types", "MONGODB"),
            *("--from", "99999999d", "--to", "now", "--out", str(tmp_path / "o")),
        ]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        "error: --from: '99999999d' reaches too far back (before the year 1)"
    )


def test_a_dead_proxy_is_hinted_at_not_base_url(tmp_path: Path) -> None:
    from bulkdl.emulator import EmulatorThread
    from tests.conftest import make_fleet

    with EmulatorThread(make_fleet(groups=1)) as emu:
        result = run_cli(["groups", "--base-url", emu.base_url, "--proxy", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    error, hint = result.stderr.splitlines()[:2]
    assert "cannot connect to the proxy http://127.0.0.1:9" in error
    assert hint.startswith("hint: nothing answers at the proxy: check --proxy")
    assert "base_url" not in hint
