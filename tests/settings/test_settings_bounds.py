"""Every input bounded: through the CLI, each bad value is exit 2, one line naming the flag, key
or variable and the value, no traceback, and not one request reaches the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, run_cli, served_archive, write_config


def _refused(result_output: str, exit_code: int, *needles: str) -> str:
    assert exit_code == 2, result_output
    assert "Traceback" not in result_output
    errors = [line for line in result_output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result_output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def _download(tmp_path: Path, emu: EmulatorThread, fleet: Fleet, *extra: str) -> list[str]:
    cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, groups=list(fleet.groups))
    return ["download", "--config", str(cfg), "--out", str(tmp_path / "o"), *extra]


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (["--concurrency", HUGE], ("--concurrency", "at most 1024", HUGE)),
        (["--concurrency", "1025"], ("--concurrency", "at most 1024", "1025")),
        (["--concurrency", "-3"], ("--concurrency", "at least 1", "-3")),
        (["--timeout", "nan"], ("--timeout", "finite", "nan")),
        (["--timeout", "inf"], ("--timeout", "finite", "inf")),
        (["--timeout", "-1"], ("--timeout", "more than 0", "-1")),
        (["--stall-timeout", "nan"], ("--stall-timeout", "finite", "nan")),
        (["--stall-timeout", "-5"], ("--stall-timeout", "more than 0", "-5")),
        (["--stall-timeout", "0"], ("--stall-timeout", "more than 0", "0")),
    ],
)
def test_download_flags_bounded(
    tmp_path: Path,
    fleet: Fleet,
    emulator: EmulatorThread,
    flags: list[str],
    needles: tuple[str, ...],
) -> None:
    result = run_cli(_download(tmp_path, emulator, fleet, *flags))
    _refused(result.output, result.exit_code, *needles)
    assert emulator.state.counters.requests == 0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["extend", "--days", "0"], ("--days", "at least 1")),
        (["extend", "--days", HUGE], ("--days", "at most 3650", HUGE)),
        (["collect", "--size-per-file", "-1"], ("--size-per-file", "at least 1", "-1")),
        (["collect", "--size-per-file", HUGE], ("--size-per-file", "at most", HUGE)),
        (["collect", "--timeout", "nan"], ("--timeout", "finite")),
        (["collect", "--timeout", "-inf"], ("--timeout", "finite", "-inf")),
        (["list", "--since", f"{HUGE}d"], ("--since", HUGE, "too far back")),
        (["extend", "--days", "7", "--since", "9999999999d"], ("--since", "too far back")),
    ],
)
def test_fleet_command_flags_bounded(
    tmp_path: Path,
    fleet: Fleet,
    emulator: EmulatorThread,
    args: list[str],
    needles: tuple[str, ...],
) -> None:
    """extend and collect: the same rule, checked before the config is even read."""
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    collect = ["--resource-type", "cluster", "--resource-name", "x", "--log-types", "MONGODB"]
    extra = [*collect, "--out", str(tmp_path / "o")] if args[0] == "collect" else []
    result = run_cli([*args, *extra, "--config", str(cfg)])
    _refused(result.output, result.exit_code, *needles)
    assert emulator.state.counters.requests == 0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["demo", "--concurrency", HUGE], ("--concurrency", HUGE)),
        (["emulate", "--port", "70000"], ("--port", "at most 65535")),
        (["emulate", "--groups", HUGE], ("--groups", HUGE)),
        (["emulate", "--collect-seconds", "nan"], ("--collect-seconds", "finite")),
    ],
)
def test_demo_and_emulate_flags_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needles: tuple[str, ...]
) -> None:
    """Refused while parsing: no emulator is started, no demo folder written."""
    monkeypatch.chdir(tmp_path)
    result = run_cli(args)
    _refused(result.output, result.exit_code, *needles)
    assert not (tmp_path / "bulkdl-demo").exists()


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ("concurrency = 2000", ("concurrency must be at most 1024", "2000")),
        ("per_group_concurrency = 99999999999999", ("per_group_concurrency", "at most 1024")),
        ("list_concurrency = 0", ("list_concurrency must be at least 1",)),
        ("stall_timeout_s = nan", ("stall_timeout_s must be a finite number", "nan")),
        ("connect_timeout_s = -1", ("connect_timeout_s must be more than 0", "-1")),
        ("retry_deadline_s = inf", ("retry_deadline_s must be a finite number", "inf")),
        ("retries = -1", ("retries must be at least 0", "-1")),
        ("retry_backoff_s = -0.5", ("retry_backoff_s must be more than 0",)),
        ("requests_per_minute = 0", ("requests_per_minute must be at least 1",)),
        ("poll_interval_s = -inf", ("poll_interval_s must be a finite number",)),
        ("min_rate_bytes_s = -1", ("min_rate_bytes_s must be at least 0",)),
        ("min_rate_window_s = nan", ("min_rate_window_s must be a finite number",)),
        ("rate_window_s = 0", ("rate_window_s must be more than 0",)),
        ("retries = 2.5", ("retries must be an integer", "2.5")),
        ("verify = 1", ("verify must be true or false",)),
        ("insecure = true", ("insecure cannot be set in the config file",)),
    ],
)
def test_config_numbers_bounded(
    tmp_path: Path,
    fleet: Fleet,
    emulator: EmulatorThread,
    toml: str,
    needles: tuple[str, ...],
) -> None:
    """The same bounds in the TOML file; the line names the file too."""
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    cfg.write_text(cfg.read_text() + toml + "\n")
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "o")])
    _refused(result.output, result.exit_code, str(cfg), *needles)
    assert emulator.state.counters.requests == 0


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:0", "port"),
        ("http://127.0.0.1:eighty", "port"),
        ("http://127.0.0.1:8080/?x=1", "query"),
        ("http://127.0.0.1:8080/#frag", "fragment"),
        ("http://exa mple.com", "spaces"),
        ("http://bad_host!/", "not a host name"),
        ("ftp://127.0.0.1", "not an http(s) URL"),
        ("https://user:pw@127.0.0.1", "credentials"),
    ],
)
def test_bad_base_url_refused_at_config_time(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, url: str, needle: str
) -> None:
    result = run_cli(_download(tmp_path, emulator, fleet, "--base-url", url))
    _refused(result.output, result.exit_code, "--base-url", needle)
    assert emulator.state.counters.requests == 0


@pytest.mark.parametrize(
    ("public", "needle"),
    [("testpub01:x", "':'"), ("test pub01", "spaces"), ("testpub\x0701", "control")],
)
def test_bad_public_key_refused(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, public: str, needle: str
) -> None:
    result = run_cli(_download(tmp_path, emulator, fleet), env={"BULKDL_PUBLIC_KEY": public})
    _refused(result.output, result.exit_code, "BULKDL_PUBLIC_KEY", "public key", needle)
    assert emulator.state.counters.requests == 0


def test_keys_from_the_environment_are_stripped(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """`export KEY=$(cat file)` style values with a newline still authenticate."""
    env = {"BULKDL_PUBLIC_KEY": f" {PUBLIC_KEY}\n", "BULKDL_PRIVATE_KEY": f"{PRIVATE_KEY}\n"}
    args = _download(tmp_path, emulator, fleet, "--base-url", emulator.base_url + "/")
    result = run_cli(args, env=env)
    assert result.exit_code == 0, result.output
    gid, jobs = next(iter(fleet.groups.items()))
    first = tmp_path / "o" / gid / f"{jobs[0].id}.tar.gz"
    assert first.read_bytes() == served_archive(fleet, gid, jobs[0].id)
    assert emulator.state.counters.responses_by_status[401] == emulator.state.counters.challenges
