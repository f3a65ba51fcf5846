"""`bulkdl verify OUT` and `--verify`: archives checked against the manifest and read to the end."""

from __future__ import annotations

import json
from pathlib import Path

from bulkdl.emulator import EmulatorThread, Fleet
from tests.conftest import run_cli, write_config


def _pull(tmp_path: Path, emu: EmulatorThread, fleet: Fleet, *extra: str) -> Path:
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, groups=list(fleet.groups))
    result = run_cli(["download", "--config", str(cfg), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def test_verify_intact_pull(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    out = _pull(tmp_path, emulator, fleet, "--verify")
    result = run_cli(["verify", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"checked": 12, "bad": [], "exitCode": 0}
    assert "12 intact, 0 bad" in result.stderr


def test_verify_finds_damage(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    """A flipped byte, a truncated file and a deleted file are each named; exit 1."""
    out = _pull(tmp_path, emulator, fleet)
    files = sorted(out.rglob("*.tar.gz"))
    flipped, truncated, deleted = files[0], files[1], files[2]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:1000])
    deleted.unlink()

    result = run_cli(["verify", str(out), "--json"])
    assert result.exit_code == 1
    bad = {Path(b["path"]): b["problem"] for b in json.loads(result.stdout)["bad"]}
    assert set(bad) == {flipped, truncated, deleted}
    assert bad[flipped] == "sha256 differs from the manifest"
    assert bad[truncated].startswith("size 1000, manifest says ")
    assert bad[deleted] == "missing"
    for path in (flipped, truncated, deleted):
        assert str(path) in result.stderr


def test_verify_without_manifest(tmp_path: Path) -> None:
    result = run_cli(["verify", str(tmp_path)])
    assert result.exit_code == 2
    assert "no manifest.jsonl" in result.stderr
