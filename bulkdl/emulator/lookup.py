"""Finding the group and job a path names, with the checks the API makes first: id format,
the key's access to the group (access list, membership), existence.
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from bulkdl.emulator import errors
from bulkdl.emulator.fleet import EmulatedJob, Fleet

OBJECT_ID: Final = re.compile(r"[0-9a-fA-F]{24}")


def group_jobs(request: web.Request, fleet: Fleet, gid: str) -> list[EmulatedJob]:
    """The group's jobs (the fleet's own list, newest first), once the key may see the group."""
    if not OBJECT_ID.fullmatch(gid):
        raise errors.invalid_group_id(gid)
    if gid in fleet.forbidden:
        raise errors.ip_not_on_whitelist(request.remote or "unknown")
    if gid in fleet.not_in_group:
        raise errors.not_in_group()
    jobs = fleet.groups.get(gid)
    if jobs is None:
        raise errors.group_not_found(gid)
    return jobs


def find_job(request: web.Request, fleet: Fleet) -> EmulatedJob:
    """The job of a `{gid}/…/{jid}` path."""
    gid, jid = request.match_info["gid"], request.match_info["jid"]
    jobs = group_jobs(request, fleet, gid)
    if not OBJECT_ID.fullmatch(jid):
        raise errors.invalid_job_id(jid)
    for job in jobs:
        if job.id == jid.lower():
            return job
    raise errors.job_not_found(jid, gid)
