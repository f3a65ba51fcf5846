"""Bad input is one line naming the problem, exit 2, no traceback, and no request sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from tests.conftest import PRIVATE_KEY, run_cli, write_config


def _assert_refused(result_output: str, exit_code: int, *needles: str) -> None:
    assert exit_code == 2, result_output
    assert "Traceback" not in result_output
    first = [line for line in result_output.splitlines() if line.startswith("error:")]
    assert len(first) == 1, result_output
    for needle in needles:
        assert needle in first[0], (needle, first[0])


@pytest.mark.parametrize(
    ("keys", "needles"),
    [
        ({"groupz": ["x"]}, ("unknown key 'groupz'",)),
        ({"groups": ["not-a-hex-id"]}, ("'not-a-hex-id'", "24 lowercase hex")),
        ({"concurrency": 0}, ("concurrency must be at least 1",)),
        ({"concurrency": "eight"}, ("concurrency must be an integer",)),
        ({"private_key": "abc"}, ("private_key must not be stored",)),
        ({"base_url": "ftp://example.com"}, ("is not an http(s) URL",)),
    ],
)
def test_bad_config_values(
    tmp_path: Path,
    fleet: Fleet,
    emulator: EmulatorThread,
    keys: dict[str, object],
    needles: tuple[str, ...],
) -> None:
    """Each bad key or value is named; the emulator sees no request."""
    base: dict[str, object] = {"base_url": emulator.base_url, "groups": list(fleet.groups)}
    base.update(keys)
    cfg = write_config(tmp_path / "bulkdl.toml", **base)
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "out")])
    _assert_refused(result.output, result.exit_code, str(cfg), *needles)  # names the file
    assert emulator.state.counters.requests == 0


def test_unknown_key_suggests_the_nearest(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A misspelt key gets a 'did you mean' hint."""
    cfg = write_config(
        tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups), concurency=4
    )
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "o")])
    _assert_refused(result.output, result.exit_code, "unknown key 'concurency'")
    assert "did you mean 'concurrency'?" in result.stderr
    assert emulator.state.counters.requests == 0


def test_malformed_toml_names_file_and_line(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A TOML syntax error names the file and the line."""
    cfg = tmp_path / "bad.toml"
    gid = next(iter(fleet.groups))
    cfg.write_text(f'base_url = "{emulator.base_url}"\ngroups = [\n  "{gid}",\n  oops\n]\n')
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "o")])
    _assert_refused(result.output, result.exit_code, str(cfg), "invalid TOML", "line 4")
    assert emulator.state.counters.requests == 0


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli(["download", "--config", str(tmp_path / "nope.toml")])
    _assert_refused(result.output, result.exit_code, "nope.toml", "does not exist")


def test_missing_private_key_file(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    cfg = write_config(
        tmp_path / "c.toml",
        base_url=emulator.base_url,
        groups=list(fleet.groups),
        private_key_file="absent-key",
    )
    result = run_cli(
        ["download", "--config", str(cfg), "--out", str(tmp_path / "o")],
        env={"BULKDL_PRIVATE_KEY": ""},
    )
    _assert_refused(
        result.output, result.exit_code, "private_key_file", "absent-key", "does not exist"
    )
    assert emulator.state.counters.requests == 0


@pytest.mark.parametrize("out", ["/proc/bulkdl-test-out", "/proc/self"])
def test_output_dir_not_writable(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, out: str
) -> None:
    """A folder that cannot be created, or one we cannot write into (even as root): exit 2."""
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    result = run_cli(["download", "--config", str(cfg), "--out", out])
    _assert_refused(result.output, result.exit_code, f"output directory {out}")
    assert emulator.state.counters.requests == 0


def test_missing_credentials(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    """No private key anywhere: exit 2 naming the variable, no request."""
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    result = run_cli(
        ["download", "--config", str(cfg), "--out", str(tmp_path / "o")],
        env={"BULKDL_PRIVATE_KEY": ""},
    )
    _assert_refused(result.output, result.exit_code, "no private API key")
    assert "BULKDL_PRIVATE_KEY" in result.stderr
    assert emulator.state.counters.requests == 0


def test_private_key_file_readable_by_others_is_refused(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A key file with group/other permissions is refused with a chmod hint."""
    key = tmp_path / "key"
    key.write_text(PRIVATE_KEY + "\n")
    os.chmod(key, 0o644)
    cfg = write_config(
        tmp_path / "c.toml",
        base_url=emulator.base_url,
        groups=list(fleet.groups),
        private_key_file="key",
    )
    args = ["download", "--config", str(cfg), "--out", str(tmp_path / "o")]
    result = run_cli(args, env={"BULKDL_PRIVATE_KEY": ""})
    _assert_refused(result.output, result.exit_code, "readable by other users")
    assert "chmod 600" in result.stderr
    assert emulator.state.counters.requests == 0

    os.chmod(key, 0o600)  # the same file, private: the run works
    ok = run_cli(args, env={"BULKDL_PRIVATE_KEY": ""})
    assert ok.exit_code == 0, ok.output


def test_output_path_that_is_a_file(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    """--out pointing at a file: exit 2, no request."""
    target = tmp_path / "afile"
    target.write_text("x")
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    result = run_cli(["download", "--config", str(cfg), "--out", str(target)])
    _assert_refused(result.output, result.exit_code, str(target), "not a directory")
    assert emulator.state.counters.requests == 0


def test_bad_group_flag(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    """--group with a malformed id names the flag and the value (upper case is normalised)."""
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    result = run_cli(
        [
            "download",
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "o"),
            "--group",
            "5c8100bcf2a30b12ff88258g",
        ]
    )
    _assert_refused(result.output, result.exit_code, "--group", "5c8100bcf2a30b12ff88258g")
    assert emulator.state.counters.requests == 0


def test_concurrency_flag_below_one(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    result = run_cli(
        ["download", "--config", str(cfg), "--out", str(tmp_path / "o"), "--concurrency", "0"]
    )
    _assert_refused(result.output, result.exit_code, "--concurrency", "at least 1")
    assert emulator.state.counters.requests == 0


def test_server_not_listening_exits_2(tmp_path: Path) -> None:
    """Nothing at base_url: the run cannot start; one line names the host."""
    result = run_cli(
        [
            "download",
            "--base-url",
            "http://127.0.0.1:9",
            "--group",
            "a" * 24,
            "--out",
            str(tmp_path / "o"),
        ]
    )
    _assert_refused(result.output, result.exit_code, "127.0.0.1:9", "cannot connect")
