"""What a download run does beyond `bulkdl download`'s defaults (set by the CLI's commands)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bulkdl.domain.models import CollectionRange
from bulkdl.domain.selection import JobFilter


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What a run does beyond `bulkdl download`'s defaults."""

    filter: JobFilter = field(default_factory=JobFilter)
    wait: bool = False  # poll IN_PROGRESS jobs until they finish, then download them
    timeout_s: float = 3600.0  # how long to wait for a job at most
    collect: dict[str, Any] | None = None  # create one job per group with this POST body
    new: bool = False  # collect: create fresh jobs even where OUT's manifest has one for it
    collect_range: CollectionRange | None = None  # limit the created jobs to this window
    download: bool = True  # False: `bulkdl collect` without --download
    dry_run: bool = False  # list and plan (bulkdl.run.dryrun); no POST, no download
    extract: bool = False  # unpack each verified archive to OUT/<groupId>/<jobId>/
    wait_report_s: float | None = None  # with wait: a "still waiting" line this often
