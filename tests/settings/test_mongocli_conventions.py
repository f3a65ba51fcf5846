"""mongocli's conventions (issue 22 point 3): its `default` profile when nothing else names a
key, -P and MCLI_PROFILE, a typo's nearest name and the list of profiles, a key pair taken whole,
and a rejected key's hint naming where each half came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, read_manifest, run_cli
from tests.settings.test_mongocli import NO_BULKDL_KEYS, _profile, _profile_file


def _xdg(tmp_path: Path, **profiles: dict[str, str]) -> dict[str, str]:
    xdg = tmp_path / "xdg"
    _profile_file(xdg / "mongocli" / "config.toml", **profiles)
    return {**NO_BULKDL_KEYS, "XDG_CONFIG_HOME": str(xdg)}


def test_default_profile_is_used_when_nothing_names_a_key(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    env = _xdg(tmp_path, default=_profile(emulator, gid))
    out = tmp_path / "o"
    result = run_cli(["download", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert {line["groupId"] for line in read_manifest(out)} == {gid}


def test_default_profile_is_not_used_when_bulkdl_keys_are_set(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    env = _xdg(tmp_path, default={"public_api_key": "wrong", "private_api_key": "wrong"})
    env |= {"BULKDL_PUBLIC_KEY": PUBLIC_KEY, "BULKDL_PRIVATE_KEY": PRIVATE_KEY}
    args = ["download", "--base-url", emulator.base_url, "--group", gid, "--out", str(tmp_path)]
    result = run_cli(args, env=env)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("how", ["-P", "MCLI_PROFILE"])
def test_short_flag_and_mcli_profile(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, how: str
) -> None:
    gid = next(iter(fleet.groups))
    env = _xdg(tmp_path, incident=_profile(emulator, gid))
    args = ["download", "--out", str(tmp_path / "o")]
    if how == "-P":
        args += ["-P", "incident"]
    else:
        env["MCLI_PROFILE"] = "incident"
    result = run_cli(args, env=env)
    assert result.exit_code == 0, result.output


def test_profile_typo_lists_profiles_and_the_nearest(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    env = _xdg(tmp_path, incident={"public_api_key": "p"}, prod={"public_api_key": "q"})
    result = run_cli(["list", "-P", "incidnet"], env=env)
    assert result.exit_code == 2
    assert "did you mean 'incident'? profiles there: incident, prod" in result.stderr


def test_stray_mcli_private_key_does_not_replace_half_a_profile(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    env = _xdg(tmp_path, prod=_profile(emulator, gid))
    env["MCLI_PRIVATE_API_KEY"] = "stray-secret-from-another-shell"
    result = run_cli(["list", "--profile", "prod"], env=env)
    assert result.exit_code == 2
    assert "the public key comes from profile 'prod'" in result.stderr
    assert "the private key from MCLI_PRIVATE_API_KEY" in result.stderr
    assert "stray-secret" not in result.output
    assert emulator.state.counters.requests_by_kind.get("jobs", 0) == 0


def test_rejected_key_hint_names_where_each_half_came_from(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    env = _xdg(tmp_path, prod=_profile(emulator, gid, private_api_key="not-the-key"))
    result = run_cli(["list", "-P", "prod"], env=env)
    assert result.exit_code == 2, result.output
    hint = next(line for line in result.stderr.splitlines() if line.startswith("hint:"))
    assert "the public key came from profile 'prod'" in hint
    assert ": public_api_key" in hint
    assert ": private_api_key" in hint
    assert "BULKDL_PUBLIC_KEY" not in hint
