"""Groups discovery: GET /groups (every project the key can see) and GET /orgs/{ORG-ID}/groups.

Paged like the job listing. Groups the key cannot reach (`not_in_group`, `forbidden`) are left
out, as the real listing only shows the caller's projects. The counts in each project are
derived from its jobs: one replica set per resourceName, one agent per host.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bulkdl.emulator import errors, inject
from bulkdl.emulator.fleet import Fleet
from bulkdl.emulator.lookup import OBJECT_ID
from bulkdl.emulator.paging import paged_doc
from bulkdl.emulator.responses import json_bytes, json_response
from bulkdl.emulator.state import STATE_KEY


async def list_groups(request: web.Request) -> web.Response:
    """GET /groups: one page of the projects the key can see, in the fleet's order."""
    fleet = request.app[STATE_KEY].fleet
    return _page(request, "groups", fleet.visible_groups())


async def list_org_groups(request: web.Request) -> web.Response:
    """GET /orgs/{oid}/groups: the same, for one organization."""
    fleet = request.app[STATE_KEY].fleet
    oid = request.match_info["oid"]
    if not OBJECT_ID.fullmatch(oid):
        raise errors.invalid_org_id(oid)
    if oid.lower() not in fleet.org_ids():
        raise errors.org_not_found(oid)
    return _page(request, f"org:{oid.lower()}", fleet.visible_groups(oid.lower()))


def _page(request: web.Request, fault_key: str, gids: list[str]) -> web.Response:
    """One page of groups, answered or spoiled by the fault queued under `fault_key`."""
    state = request.app[STATE_KEY]
    fault = state.listing_faults.take(fault_key)
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    doc = paged_doc(request, gids, lambda gid: group_doc(state.fleet, gid))
    inject.break_listing(state, doc, fault)
    return json_response(inject.break_json(state, json_bytes(request, doc), fault))


def group_doc(fleet: Fleet, gid: str) -> dict[str, Any]:
    """The project as the Groups API shows it, keys alphabetical (no per-item `links`)."""
    info = fleet.info(gid)
    jobs = fleet.groups[gid]
    hosts = {host for job in jobs for host in job.hosts}
    replica_sets = len({job.resource_name for job in jobs})
    return {
        "activeAgentCount": len(hosts),
        "hostCounts": {
            "arbiter": 0,
            "config": 0,
            "master": 0,
            "mongos": 0,
            "primary": replica_sets,
            "secondary": max(0, len(hosts) - replica_sets),
            "slave": 0,
        },
        "id": gid,
        "name": info.name,
        "orgId": info.org_id,
        "publicApiEnabled": True,
        "replicaSetCount": replica_sets,
        "shardCount": 0,
        "tags": [],
    }
