"""Properties of reading a manifest back: whatever a crash, a full disk or a stray editor left in
it (a line cut anywhere, garbage bytes, JSON of any shape), the read never raises and every
whole line a writer wrote is kept (the last per job)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.domain.models import JobResult, Outcome
from bulkdl.domain.planner import MANIFEST_NAME, Recorded
from bulkdl.store.manifest import LineFormat, encode_line, read_previous

HEX = "0123456789abcdef"
ids = st.text(alphabet=HEX, min_size=24, max_size=24)
texts = st.text(max_size=12)
optional_ints = st.none() | st.integers(0, 2**53)


def _result(group: str, job: str, outcome: Outcome, rest: dict[str, Any]) -> JobResult:
    return JobResult(group, job, outcome=outcome, **rest)


archive_lines = st.builds(
    _result,
    ids,
    ids,
    st.sampled_from([Outcome.DOWNLOADED, Outcome.SKIPPED, Outcome.REPLACED]),
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(["SUCCESS", "EXPIRED"]),
            "path": texts.map(lambda s: f"out/{s}.tar.gz"),
            "bytes": st.integers(0, 2**40),
            "sha256": st.text(alphabet=HEX, min_size=64, max_size=64),
            "listed_size_bytes": optional_ints,
            "creation_date": st.none() | texts,
            "error": st.none() | texts,
        }
    ),
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = scalars | st.lists(scalars, max_size=2) | st.dictionaries(texts, scalars, max_size=2)
# A line shaped like a record, each field anything: but its jobId is never a string, so it can
# never be a good line by accident.
odd_records = st.fixed_dictionaries(
    {"jobId": st.none() | st.integers() | st.lists(texts, max_size=2)},
    optional=dict.fromkeys(("groupId", "outcome", "bytes", "sha256", "path"), json_values),
)
odd_types = st.fixed_dictionaries(  # a good job's id, every other field of a wrong kind
    {
        "outcome": st.sampled_from([[], {}, 1, None, "failed", "created", "DOWNLOADED"]),
        "bytes": st.sampled_from([None, True, -1, 1.5, "12", [3]]),
        "sha256": json_values,
        "path": json_values,
    }
)
garbage = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    json_values.map(lambda v: encode_line({"v": v})[:-1] if v is not None else b"null"),
    odd_records.map(lambda r: encode_line(r)[:-1]),
)


@st.composite
def manifests(draw: st.DrawFn) -> tuple[bytes, dict[tuple[str, str], Recorded]]:
    """A manifest's bytes with damage between and after the good lines, and what must be read."""
    good = draw(st.lists(archive_lines, max_size=6))
    fmt = LineFormat("run-1", None)
    parts: list[bytes] = []
    expected: dict[tuple[str, str], Recorded] = {}
    for result in good:
        parts += [g + b"\n" for g in draw(st.lists(garbage, max_size=2))]
        line = fmt.line(result)
        if draw(st.integers(0, 4)) == 0:  # a line torn mid-write, then the writers went on
            parts.append(line[: draw(st.integers(0, len(line) - 2))] + b"\n")
            continue
        parts.append(line)
        assert result.job_id
        assert result.path
        assert result.bytes is not None
        assert result.sha256
        expected[(result.group_id, result.job_id)] = Recorded(
            result.path,
            result.bytes,
            result.sha256,
            result.group_id,
            status=result.status,
            listed_size_bytes=result.listed_size_bytes,
            creation_date=result.creation_date,
        )
        if draw(st.booleans()):  # a later line for the same job that does not say anything
            doc = draw(odd_types)
            parts.append(encode_line({"jobId": result.job_id, **doc}))
    if good and draw(st.booleans()):  # the crash: the file ends inside its last line
        last = fmt.line(draw(archive_lines))
        parts.append(last[: draw(st.integers(0, len(last) - 2))])
    return b"".join(parts), expected


@pytest.fixture(scope="module")
def out() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def _read(out: Path, data: bytes) -> dict[tuple[str, str], Recorded]:
    """The manifest as a rerun reads it (one event loop per example: the plugin's costs more)."""
    (out / MANIFEST_NAME).write_bytes(data)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return dict(anyio.run(read_previous, out, fd))
    finally:
        os.close(fd)


@settings(max_examples=50, deadline=None)
@given(manifests())
def test_damage_never_raises_and_every_whole_line_is_kept(
    out: Path, case: tuple[bytes, dict[tuple[str, str], Recorded]]
) -> None:
    data, expected = case
    assert _read(out, data) == expected


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_read_back_without_raising(out: Path, data: bytes) -> None:
    for found in (_read(out, data)).values():
        assert isinstance(found.bytes, int)
        assert isinstance(found.path, str)
