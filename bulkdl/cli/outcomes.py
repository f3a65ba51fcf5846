"""`download|collect|demo -o csv`: one row per job of this run, in the manifest's columns.

Each job's last line of the run (a job `collect` created and then downloaded is one row, as the
manifest's last line per jobId is its current state); every row has every column, empty where
a line has no value, so a spreadsheet lines them up.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from bulkdl.report.schema import ManifestLine
from bulkdl.store.manifest import to_record

if TYPE_CHECKING:
    from bulkdl.report.summary import RunSummary

COLUMNS = tuple(ManifestLine.__annotations__)


def outcome_records(summary: RunSummary) -> list[dict[str, Any]]:
    """The manifest line of each job's last outcome in this run, in the order they came."""
    last: dict[tuple[str, str | None], dict[str, Any]] = {}
    for n, result in enumerate(summary.results):
        key = (result.group_id, result.job_id) if result.job_id else (result.group_id, str(n))
        last.pop(key, None)  # a later line moves the job to where its outcome came
        last[key] = to_record(result, summary.run_id, summary.out_dir)
    return list(last.values())


def outcomes_csv(summary: RunSummary) -> str:
    """The header and one row per job (the header alone when the run had no job)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in outcome_records(summary):
        writer.writerow({k: _cell(v) for k, v in record.items()})
    return buf.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return value
