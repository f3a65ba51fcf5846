"""Jobs made by POST: an ObjectId stamped with the creation time, and hosts and archive sizes
that fit the group they join, so their archives look like the group's other jobs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from bulkdl.emulator.fleet import DEFAULT_ARCHIVE_BYTES, EmulatedJob, Fleet, object_id, seeded
from bulkdl.emulator.payloads import CreateRequest

REPLICA_SET_MEMBERS: Final = 3
CLUSTER_SHARDS: Final = 2


def new_job(
    fleet: Fleet, group_id: str, request: CreateRequest, *, created: datetime, serial: int
) -> EmulatedJob:
    """An IN_PROGRESS job of `group_id` for `request`, created at `created` (to the second).

    Not added to the fleet. Its id is unique in the fleet and deterministic for
    (group, serial, time).
    """
    group_jobs = fleet.groups[group_id]
    created = created.replace(microsecond=0)
    rng = seeded("created", group_id, serial, created.isoformat())
    taken = {job.id for job in fleet.all_jobs()}
    job_id = object_id(created, rng, serial)
    while job_id in taken:  # only if a test replays serials: draw again
        job_id = object_id(created, rng, serial)
    return EmulatedJob(
        id=job_id,
        group_id=group_id,
        status="IN_PROGRESS",
        resource_name=request.resource_name,
        resource_type=request.resource_type,
        hosts=hosts_for(group_jobs, group_id, request.resource_type, request.resource_name),
        creation_date=created,
        seed=rng.getrandbits(32),
        log_types=list(request.log_types),
        redacted=request.redacted,
        size_requested_per_file_bytes=request.size_requested_per_file_bytes,
        archive_bytes=group_jobs[0].archive_bytes if group_jobs else DEFAULT_ARCHIVE_BYTES,
        log_collection_from_date=request.log_collection_from_date,
        log_collection_to_date=request.log_collection_to_date,
    )


def hosts_for(
    group_jobs: list[EmulatedJob], group_id: str, resource_type: str, resource_name: str
) -> list[str]:
    """The hosts of an earlier job of the same resource, else made up from the name:
    one for a process, a replica set's members, or the members of a cluster's shards."""
    for job in group_jobs:
        if job.resource_name == resource_name:
            return list(job.hosts)
    label = re.sub(r"[^a-z0-9-]+", "-", resource_name.lower()).strip("-") or "resource"
    domain = f"{group_id[8:14].lower()}.example.net"
    if resource_type == "process":
        return [f"{label}.{domain}"]
    if resource_type == "cluster":
        return [
            f"{label}-shard-{s}-node-{n}.{domain}"
            for s in range(CLUSTER_SHARDS)
            for n in range(REPLICA_SET_MEMBERS)
        ]
    return [f"{label}-node-{n}.{domain}" for n in range(REPLICA_SET_MEMBERS)]
