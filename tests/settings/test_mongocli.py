"""Credentials and endpoints from mongocli / atlas: MCLI_* and MONGODB_ATLAS_* variables and
profiles, through the CLI against the emulator, and their place in the precedence order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.settings.load import Overrides, load_settings
from bulkdl.settings.spec import declared
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, read_manifest, run_cli, write_config

NO_BULKDL_KEYS = {"BULKDL_PUBLIC_KEY": "", "BULKDL_PRIVATE_KEY": ""}
DEAD = "http://127.0.0.1:9"  # nothing listens there: a run that used it would fail


def _downloaded_groups(out: Path) -> set[str]:
    return {line["groupId"] for line in read_manifest(out) if line.get("sha256")}


def _profile_file(path: Path, **profiles: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = 'mongosh_path = "/usr/bin/mongosh"\n'
    for name, keys in profiles.items():
        text += f"[{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    path.write_text(text)
    path.chmod(0o600)
    return path


def _profile(emu: EmulatorThread, group: str, **more: str) -> dict[str, str]:
    return {
        "public_api_key": PUBLIC_KEY,
        "private_api_key": PRIVATE_KEY,
        "ops_manager_url": emu.base_url + "/",  # mongocli wants the trailing slash
        "service": "ops-manager",
        "project_id": group,
        "org_id": "5c8100bcf2a30b12ff882500",
        **more,
    }


@pytest.mark.parametrize("prefix", ["MCLI_", "MONGODB_ATLAS_"])
def test_mongocli_variables_alone_run_a_download(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, prefix: str
) -> None:
    """No bulkdl config and no BULKDL_* key: the mongocli/atlas variables are enough."""
    gid = next(iter(fleet.groups))
    env = {
        **NO_BULKDL_KEYS,
        f"{prefix}PUBLIC_API_KEY": PUBLIC_KEY,
        f"{prefix}PRIVATE_API_KEY": PRIVATE_KEY,
        f"{prefix}OPS_MANAGER_URL": emulator.base_url + "/",
        f"{prefix}PROJECT_ID": gid,
        f"{prefix}ORG_ID": "5c8100bcf2a30b12ff882500",
    }
    out = tmp_path / "o"
    result = run_cli(["download", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert _downloaded_groups(out) == {gid}  # the project, not the whole org
    assert emulator.state.counters.requests_by_kind["org_groups"] == 0


def test_mongocli_profile_file_runs_a_download(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """--profile NAME in $XDG_CONFIG_HOME/mongocli/config.toml; other profiles are ignored."""
    gid = next(iter(fleet.groups))
    xdg = tmp_path / "xdg"
    _profile_file(
        xdg / "mongocli" / "config.toml",
        default={"public_api_key": "wrong", "ops_manager_url": DEAD},
        incident=_profile(emulator, gid),
    )
    out = tmp_path / "o"
    env = {**NO_BULKDL_KEYS, "XDG_CONFIG_HOME": str(xdg)}
    result = run_cli(["download", "--profile", "incident", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert _downloaded_groups(out) == {gid}


def test_atlas_profile_file_under_home(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """atlas's ~/.config/atlascli/config.toml is found when mongocli has no such profile."""
    gid = next(iter(fleet.groups))
    home = tmp_path / "home"
    _profile_file(home / ".config" / "atlascli" / "config.toml", ops=_profile(emulator, gid))
    env = {**NO_BULKDL_KEYS, "HOME": str(home), "XDG_CONFIG_HOME": "", "BULKDL_PROFILE": "ops"}
    result = run_cli(["list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert {j["groupId"] for j in json.loads(result.stdout)} == {gid}


def test_precedence_flags_over_bulkdl_over_mcli_over_profile(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """Each source overrides the one below it, key by key; the key pair is taken whole (issue
    22: a half from a profile never pairs with a half from elsewhere)."""
    g1, g2, *_ = fleet.groups
    xdg = tmp_path / "xdg"
    # The profile: a dead URL and a wrong key, both overridden from above.
    _profile_file(
        xdg / "mongocli" / "config.toml",
        p=_profile(emulator, g1, ops_manager_url=DEAD, private_api_key="wrong-private"),
    )
    env = {
        **NO_BULKDL_KEYS,
        "XDG_CONFIG_HOME": str(xdg),
        "MCLI_OPS_MANAGER_URL": DEAD + "/",  # beaten by the flag below
        "MCLI_PRIVATE_API_KEY": "also-wrong",  # beaten by BULKDL_PRIVATE_KEY
        "BULKDL_PUBLIC_KEY": PUBLIC_KEY,
        "BULKDL_PRIVATE_KEY": PRIVATE_KEY,
    }
    out = tmp_path / "o"
    args = ["download", "--profile", "p", "--base-url", emulator.base_url, "--out", str(out)]
    result = run_cli([*args, "--group", g2], env=env)
    assert result.exit_code == 0, result.output
    assert _downloaded_groups(out) == {g2}  # --group beats the profile's project_id

    # Without BULKDL_* keys, MCLI_'s private half would pair with the profile's public half:
    # refused before any request, naming both places.
    emulator.state.reset()
    result = run_cli(args, env={**env, "BULKDL_PUBLIC_KEY": "", "BULKDL_PRIVATE_KEY": ""})
    assert result.exit_code == 2, result.output
    assert "the private key from MCLI_PRIVATE_API_KEY" in result.stderr
    assert emulator.state.counters.challenges == 0


def test_bulkdl_toml_groups_beat_mongocli_default_project(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """project_id is mongocli's default, used only when bulkdl chooses no group itself."""
    g1, g2, *_ = fleet.groups
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=[g1])
    out = tmp_path / "o"
    env = {"MCLI_PROJECT_ID": g2, "MCLI_OPS_MANAGER_URL": DEAD}
    result = run_cli(["download", "--config", str(cfg), "--out", str(out)], env=env)
    # MCLI_OPS_MANAGER_URL is above the TOML: the dead URL wins, so nothing can start.
    assert result.exit_code == 2, result.output
    assert "127.0.0.1:9" in result.stderr
    args = ["download", "--config", str(cfg), "--out", str(out)]
    result = run_cli(args, env={"MCLI_PROJECT_ID": g2})
    assert result.exit_code == 0, result.output
    assert _downloaded_groups(out) == {g1}


def test_skip_verify_is_insecure_with_its_warning(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    env = {"MCLI_OPS_MANAGER_SKIP_VERIFY": "yes", "MCLI_OPS_MANAGER_URL": emulator.base_url}
    result = run_cli(["download", "--group", gid, "--out", str(tmp_path / "o")], env=env)
    assert result.exit_code == 0, result.output
    assert "--insecure: TLS certificates are not verified" in result.stderr


def test_service_cloud_manager_means_cloud_mongodb_com(tmp_path: Path) -> None:
    """MCLI_SERVICE alone picks the URL (checked without a network: the settings only)."""
    env = {
        "MCLI_SERVICE": "cloud-manager",
        "MCLI_PUBLIC_API_KEY": "p",
        "MCLI_PRIVATE_API_KEY": "k",
        "MCLI_PROJECT_ID": "a" * 24,
        "MCLI_OPS_MANAGER_CA_CERTIFICATE": str(tmp_path / "ca.pem"),
    }
    s = load_settings(None, env, Overrides(), need_out_dir=False)
    assert s.base_url == "https://cloud.mongodb.com"
    assert s.ca_file == tmp_path / "ca.pem"
    assert s.groups == ("a" * 24,)
    assert s.private_key.reveal() == "k"


def test_unknown_service_and_missing_profile_are_one_line(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    base = ["download", "--group", gid, "--out", str(tmp_path / "o")]
    bad = run_cli(base, env={"MCLI_SERVICE": "atlas-gov"})
    assert bad.exit_code == 2
    assert "error: MCLI_SERVICE: unknown service 'atlas-gov'" in bad.stderr
    missing = run_cli([*base, "--profile", "nope"], env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert missing.exit_code == 2
    assert "error: --profile: no profile 'nope' in" in missing.stderr
    assert "Traceback" not in bad.output + missing.output
    assert emulator.state.counters.requests == 0


def test_profile_file_readable_by_others_is_refused(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    path = _profile_file(tmp_path / "mcli.toml", p=_profile(emulator, gid))
    os.chmod(path, 0o644)
    env = {**NO_BULKDL_KEYS, "BULKDL_PROFILE_FILE": str(path)}
    result = run_cli(["download", "--profile", "p", "--out", str(tmp_path / "o")], env=env)
    assert result.exit_code == 2
    assert f"error: profile file {path} is readable by other users" in result.stderr
    assert PRIVATE_KEY not in result.output
    assert emulator.state.counters.requests == 0


def test_config_pointing_at_a_mongocli_file_points_to_profile(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    gid = next(iter(fleet.groups))
    path = _profile_file(tmp_path / "config.toml", default=_profile(emulator, gid))
    result = run_cli(["download", "--config", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"error: config file {path} is a mongocli/atlas profile file" in result.stderr
    assert "hint: use --profile default" in result.stderr
    assert PRIVATE_KEY not in result.output
    assert emulator.state.counters.requests == 0


def test_overrides_cover_every_flag() -> None:
    """Each setting with a flag has its field in Overrides (and nothing else but the profile)."""
    from dataclasses import fields

    flagged = {d.name for d in declared() if d.spec.flag}
    assert {f.name for f in fields(Overrides)} == flagged | {"profile"}


def test_service_does_not_override_a_url(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """An Atlas user's exported MCLI_SERVICE=cloud does not redirect a bulkdl.toml's URL."""
    cfg = write_config(tmp_path / "c.toml", base_url=emulator.base_url, groups=list(fleet.groups))
    out = tmp_path / "o"
    args = ["download", "--config", str(cfg), "--out", str(out)]
    result = run_cli(args, env={"MCLI_SERVICE": "cloud", "MONGODB_ATLAS_SERVICE": "cloudgov"})
    assert result.exit_code == 0, result.output
    assert _downloaded_groups(out) == set(fleet.groups)


def test_url_precedence_order(tmp_path: Path) -> None:
    """base_url from each source in turn, taking away the winner each time (settings only)."""
    profile = _profile_file(
        tmp_path / "p.toml", p={"ops_manager_url": "http://profile:1/", "project_id": "a" * 24}
    )
    cfg = write_config(tmp_path / "c.toml", base_url="http://toml:1", groups=["b" * 24])
    env = {
        "BULKDL_PUBLIC_KEY": "p",
        "BULKDL_PRIVATE_KEY": "k",
        "BULKDL_PROFILE_FILE": str(profile),
        "BULKDL_BASE_URL": "http://bulkdl:1",
        "MCLI_OPS_MANAGER_URL": "http://mcli:1/",
        "MONGODB_ATLAS_OPS_MANAGER_URL": "http://atlas:1/",
    }
    overrides = Overrides(base_url="http://flag:1", profile="p")

    def winner() -> str:
        return load_settings(cfg, env, overrides, need_out_dir=False).base_url

    assert winner() == "http://flag:1"
    overrides = Overrides(profile="p")
    assert winner() == "http://bulkdl:1"
    for var, next_winner in [
        ("BULKDL_BASE_URL", "mcli"),
        ("MCLI_OPS_MANAGER_URL", "atlas"),
        ("MONGODB_ATLAS_OPS_MANAGER_URL", "profile"),
    ]:
        del env[var]
        assert winner() == f"http://{next_winner}:1"
    overrides = Overrides()
    assert winner() == "http://toml:1"
