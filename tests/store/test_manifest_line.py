"""The manifest line the writer builds by hand is byte for byte `json` of the same record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bulkdl.domain.models import ChildJob, CollectionRange, JobResult, Outcome
from bulkdl.report.schema import ManifestLine, problems
from bulkdl.store.manifest import LineFormat, encode_line, to_record

OUT = Path("/srv/out dir/ü")
G = "5c8100bcf2a30b12ff88258f"
J = "0123456789abcdef01234567"
AT = datetime(2026, 11, 30, 15, 20, 26, 524_999, tzinfo=UTC)
AWKWARD = 'é ✓ \x00\x1b[31m\t"\\ \u2028 \ud800 null 𝄞'


def _results() -> list[JobResult]:
    """One result per awkward case: odd text, None everywhere, rare keys, odd paths and times."""
    base = JobResult(group_id=G, job_id=J, status="SUCCESS", outcome=Outcome.DOWNLOADED)
    part = ChildJob(host="h\x07ost", log_type="MONGODB", status="FAILURE", error=AWKWARD)
    window = CollectionRange(AT, AT + timedelta(hours=1))
    later = AT + timedelta(microseconds=1500)
    return [
        base,
        JobResult(group_id="", job_id=None, status=None, outcome=Outcome.FAILED, error=AWKWARD),
        JobResult(
            group_id=G,
            job_id=J,
            status="FAILURE",
            outcome=Outcome.REPLACED,
            path=str(OUT / G / f"{J}.tar.gz"),
            bytes=2**40,
            sha256="ab" * 32,
            attempts=3,
            started_at=AT,
            finished_at=later,
            extracted_path=str(OUT / G / J),
            listed_size_bytes=30_000_000,
            creation_date="2024-05-01T12:00:00Z",
            previous_sha256="cd" * 32,
            failed_parts=(part, ChildJob(host="", log_type="", status="")),
            error_code="X",
        ),
        JobResult(
            group_id=G,
            job_id=J,
            status=AWKWARD,
            outcome=Outcome.CREATED,
            request_sha256="ef" * 32,
            collection_range=window,
            started_at=AT,
            finished_at=AT,
        ),
        JobResult("", None, None, Outcome.FAILED, raw_group_id='"x"'),
        JobResult(G, None, None, Outcome.FAILED, raw_job_id="null"),
        # Paths outside OUT, or spelled so that Path would rewrite them, go through Path.
        JobResult(G, J, "SUCCESS", Outcome.SKIPPED, path="/elsewhere/a.tar.gz"),
        JobResult(G, J, "SUCCESS", Outcome.SKIPPED, path=f"{OUT}/{G}//./x/"),
        JobResult(G, J, "SUCCESS", Outcome.SKIPPED, path=f"{OUT}/./{G}/../x"),
        JobResult(G, J, "SUCCESS", Outcome.SKIPPED, path=f"{OUT}/"),
        JobResult(G, J, "SUCCESS", Outcome.SKIPPED, path=f"{OUT}x/y"),
        # Naive and non-UTC times are written as isoformat gives them.
        JobResult(
            G,
            J,
            "SUCCESS",
            Outcome.SKIPPED,
            started_at=datetime(2026, 1, 2, 3, 4, 5),  # naive, on purpose
            finished_at=AT.astimezone(timezone(timedelta(hours=5, minutes=30))),
        ),
    ]


@pytest.mark.parametrize("out_dir", [OUT, None])
def test_hand_built_line_equals_json_of_the_record(out_dir: Path | None) -> None:
    fmt = LineFormat('run"\u00e9', out_dir)
    for result in _results():
        record = to_record(result, 'run"\u00e9', out_dir)
        line = fmt.line(result)
        assert line == encode_line(record), record
        assert line == (json.dumps(record, separators=(",", ":")) + "\n").encode("ascii")
        assert json.loads(line) == record
        assert problems(json.loads(line), ManifestLine) == []


def test_a_value_of_another_kind_is_written_as_json_writes_it() -> None:
    """Only exact str and int skip the encoder: a bool (an int to isinstance) stays `true`."""
    result = JobResult(G, J, "SUCCESS", Outcome.SKIPPED, bytes=True, listed_size_bytes=False)
    line = LineFormat("r", None).line(result)
    assert line == encode_line(to_record(result, "r"))
    assert b'"bytes":true,' in line
    assert b'"uncompressedSizeTotalBytes":false,' in line


def test_paths_are_named_from_out_as_path_names_them() -> None:
    fmt = LineFormat("r", OUT)
    for result in _results():
        written = json.loads(fmt.line(result))["path"]
        if result.path is None:
            assert written is None
            continue
        try:
            expected = Path(result.path).relative_to(OUT).as_posix()
        except ValueError:
            expected = result.path
        assert written == expected


def test_times_are_formatted_per_value_not_per_object_reused() -> None:
    """The writer remembers the last time it formatted: a new value must not reuse it."""
    fmt = LineFormat("r", None)
    first = json.loads(fmt.line(JobResult(G, J, None, Outcome.FAILED, started_at=AT)))
    later = AT + timedelta(milliseconds=7)
    second = json.loads(
        fmt.line(JobResult(G, J, None, Outcome.FAILED, started_at=later, finished_at=AT))
    )
    assert (first["startedAt"], first["finishedAt"]) == ("2026-11-30T15:20:26.524Z", None)
    assert (second["startedAt"], second["finishedAt"]) == (
        "2026-11-30T15:20:26.531Z",
        "2026-11-30T15:20:26.524Z",
    )
