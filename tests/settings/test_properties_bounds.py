"""Properties of the settings bounds: for every numeric key, any value inside its declared bounds
is taken as given, and any value outside them (or of the wrong kind) is refused with one error
naming the key, the file and the value; the flags' own bounds hold the same way."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.domain.errors import ConfigError
from bulkdl.settings.load import Overrides, load_settings
from bulkdl.settings.spec import FLAG_BOUNDS, Declared, Settings, Spec, declared
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY

KINDS = get_type_hints(Settings)
NUMERIC = [d for d in declared() if KINDS[d.name] in (int, float) and d.spec.toml]
ENV = {"BULKDL_PUBLIC_KEY": PUBLIC_KEY, "BULKDL_PRIVATE_KEY": PRIVATE_KEY}


def _low(spec: Spec) -> tuple[float | None, bool]:
    """The lower bound and whether it is excluded."""
    if spec.above is not None:
        return spec.above, True
    return spec.low, False


def inside(spec: Spec, kind: type) -> st.SearchStrategy[float]:
    low, excluded = _low(spec)
    if kind is int:
        return st.integers(
            None if low is None else int(low) + excluded,
            None if spec.high is None else int(spec.high),
        )
    ints = st.integers(
        None if low is None else math.floor(low) + 1,
        None if spec.high is None else math.floor(spec.high),
    )  # an integer is a number of seconds too
    return ints | st.floats(low, spec.high, exclude_min=excluded, allow_nan=False)


def outside(spec: Spec, kind: type) -> st.SearchStrategy[float]:
    low, excluded = _low(spec)
    choices: list[st.SearchStrategy[float]] = []
    if low is not None:
        choices.append(
            st.integers(max_value=int(low) - (not excluded))
            if kind is int
            else st.floats(max_value=low, exclude_max=not excluded)
        )
    if spec.high is not None:
        choices.append(
            st.integers(min_value=int(spec.high) + 1)
            if kind is int
            else st.floats(min_value=spec.high, exclude_min=True)
        )
    if kind is float:
        choices.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.one_of(choices)


def _toml(value: float) -> str:
    return repr(value)  # nan, inf, -inf, 1e+16 and 0.1 are all TOML as repr writes them


@pytest.fixture(scope="module")
def config() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "bulkdl.toml"


def _load(config: Path, d: Declared, value: float) -> Settings:
    config.write_text(
        'base_url = "https://cloud.example.com"\n'
        'groups = ["5c8100bcf2a30b12ff88258f"]\n'
        f'out_dir = "out"\n{d.name} = {_toml(value)}\n'
    )
    return load_settings(config, ENV, Overrides())


@st.composite
def inside_case(draw: st.DrawFn) -> tuple[Declared, float]:
    d = draw(st.sampled_from(NUMERIC))
    return d, draw(inside(d.spec, KINDS[d.name]))


@st.composite
def outside_case(draw: st.DrawFn) -> tuple[Declared, float]:
    d = draw(st.sampled_from(NUMERIC))
    kind = KINDS[d.name]
    wrong_kind = st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: not f.is_integer()
    )
    return d, draw(outside(d.spec, kind) | wrong_kind if kind is int else outside(d.spec, kind))


def test_every_numeric_setting_is_bounded() -> None:
    assert len(NUMERIC) >= 12
    for d in NUMERIC:
        assert d.spec.high is not None, d.name
        assert d.spec.low is not None or d.spec.above is not None, d.name


@settings(max_examples=60, deadline=None)
@given(inside_case())
def test_a_value_inside_the_bounds_is_taken_as_given(config: Path, case: tuple) -> None:
    d, value = case
    got = getattr(_load(config, d, value), d.name)
    assert got == value
    assert type(got) is KINDS[d.name]


@settings(max_examples=60, deadline=None)
@given(outside_case())
def test_a_value_outside_the_bounds_is_refused_naming_the_key(config: Path, case: tuple) -> None:
    d, value = case
    with pytest.raises(ConfigError) as refused:
        _load(config, d, value)
    message = str(refused.value)
    assert message.startswith(f"config file {config}: {d.name} must be ")
    assert message.endswith(f", got {value!r}")


FLAGS = sorted(FLAG_BOUNDS)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FLAGS), st.data())
def test_a_flag_bound_takes_inside_and_refuses_outside(flag: str, data: st.DataObject) -> None:
    spec = FLAG_BOUNDS[flag]
    assert spec.check_number(data.draw(inside(spec, float), label="inside")) is None
    why = spec.check_number(data.draw(outside(spec, float), label="outside"))
    assert why is not None
    assert why.startswith("must be ")
