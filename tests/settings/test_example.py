"""config.example.toml, the README table and `bulkdl config example` come from the declarations."""

from __future__ import annotations

from pathlib import Path

from bulkdl.settings.example import README_END, README_START, render_example, render_table
from bulkdl.settings.load import Overrides, load_settings, read_config_file
from bulkdl.settings.spec import Settings, declared, is_required
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]  # the repository


def test_shipped_example_matches_the_declarations() -> None:
    """Regenerate with `python -m bulkdl.settings.example` (or `bulkdl config example`)."""
    assert (ROOT / "config.example.toml").read_text() == render_example()


def test_readme_table_matches_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(README_START) + len(README_START) : readme.index(README_END)]
    assert table.strip() == render_table().strip()


def test_config_example_command_prints_the_example() -> None:
    result = run_cli(["config", "example"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_example()


def test_every_key_is_documented_once() -> None:
    """Each TOML key appears as `key = ` (set or commented) exactly once, and as a table row."""
    example, table = render_example(), render_table()
    for d in declared():
        assert d.spec.doc, d.name
        assert "\n" not in d.spec.doc, d.name
        if d.spec.toml:
            count = sum(
                line.lstrip("# ").startswith(f"{d.name} = ") for line in example.split("\n")
            )
            assert count == 1, d.name
        assert table.count(f"| `{d.name}` |") + table.count(f"| ({d.name}) |") == 1, d.name


def test_example_loads_to_the_declared_defaults(tmp_path: Path) -> None:
    """The example is a valid config, and its uncommented values are the defaults."""
    path = tmp_path / "bulkdl.toml"
    path.write_text(render_example())
    assert read_config_file(path)
    env = {"BULKDL_PUBLIC_KEY": "", "BULKDL_PRIVATE_KEY": "k"}
    settings = load_settings(path, env, Overrides())
    for d in declared():
        if not is_required(d) and d.name not in ("groups", "private_key_file"):
            assert getattr(settings, d.name) == d.default, d.name
    assert settings.public_key == "abcdefgh"
    assert settings.out_dir == tmp_path / "bulkdl-out"
    assert isinstance(settings, Settings)
