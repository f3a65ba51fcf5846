"""Hostile but legal fleets, as scenario options (`bulkdl emulate --scenario NAME`).

Each changes a fleet in place, the way a real server has been seen to answer:

- `duplicate-job-ids`: every group repeats the first group's job ids (MongoDB's own client test
  fixtures do; ids are unique within a group only), each with its own archive.
- `control-names`: group names, resource names and host-part error messages that carry terminal
  control sequences (an OSC title change, a screen clear, colours, a bell, a carriage return),
  as anyone who may name a project could set them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

from bulkdl.emulator.fleet import Fleet

# Each holds ESC (CSI and OSC), BEL, CR, DEL or a C1 control.
CONTROL_GROUP_NAME: Final = "evil\x1b]0;PWNED\x07\x1b[31mRED"
CONTROL_RESOURCE_NAME: Final = "rs\x1b[2J0\r\x7f\x9b"


def duplicate_job_ids(fleet: Fleet) -> None:
    """The n-th job of every group takes the id of the n-th job of the first group."""
    groups = list(fleet.groups.values())
    if not groups:
        return
    first = groups[0]
    for jobs in groups[1:]:
        for job, model in zip(jobs, first, strict=False):
            job.id = model.id


def control_names(fleet: Fleet) -> None:
    """Control sequences in every group's name and every job's resource name."""
    for n, gid in enumerate(fleet.groups):
        fleet.group_info[gid] = replace(fleet.info(gid), name=f"{CONTROL_GROUP_NAME}{n}")
        for job in fleet.groups[gid]:
            job.resource_name = CONTROL_RESOURCE_NAME


SCENARIOS: Final[dict[str, Callable[[Fleet], None]]] = {
    "duplicate-job-ids": duplicate_job_ids,
    "control-names": control_names,
}


def apply_scenarios(fleet: Fleet, names: str) -> None:
    """Apply each comma-separated scenario; ValueError naming the known ones otherwise."""
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; expected one of: {', '.join(SCENARIOS)}")
        SCENARIOS[name](fleet)
