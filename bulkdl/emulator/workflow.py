"""The incident workflow's writes: create a job (POST), extend it (PATCH), retry it (PUT
…/retry), delete it (DELETE). Group access and job lookup come first, then the body (and a
POST's time filter, `timefilter.py`), then the job's state, so one bad request has one answer.

Dates: a created job's creationDate is the wall clock's now, so a freshly created job can be
extended; demo jobs keep their 2019 dates, so against the real clock only EXPIRED (403), a past
date (MUST_BE_IN_FUTURE) or a future one (TOO_DISTANT, beyond creation + 6 months) answer them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Final

from aiohttp import web

from bulkdl.emulator import errors, inject
from bulkdl.emulator.faults import SlowAnswer
from bulkdl.emulator.fleet import EmulatedJob
from bulkdl.emulator.jobfactory import new_job
from bulkdl.emulator.lookup import find_job, group_jobs
from bulkdl.emulator.payloads import parse_create, parse_extend
from bulkdl.emulator.responses import empty, entity
from bulkdl.emulator.state import STATE_KEY
from bulkdl.emulator.timefilter import check_time_filter

MAX_EXPIRATION: Final = timedelta(days=183)  # "up to 6 months from the time the job was created"


async def create_job(request: web.Request) -> web.Response:
    """POST …/logCollectionJobs: 201 {"id"}; the job collects for its duration."""
    state = request.app[STATE_KEY]
    gid = request.match_info["gid"]
    fault = state.create_faults.take(gid)  # this POST is the group's next create attempt
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    jobs = group_jobs(request, state.fleet, gid)
    spec = parse_create(await request.read())
    fleet = state.fleet
    check_time_filter(
        spec, state.wall_now(), forms=fleet.filter_date_forms, history=fleet.log_history
    )
    job = new_job(state.fleet, gid, spec, created=state.wall_now(), serial=next(state.serials))
    _insert_newest_first(jobs, job)
    state.start_collecting(job, "created")
    if isinstance(fault, SlowAnswer):
        state.fault_served(fault)
        await asyncio.sleep(fault.seconds)
    return entity(request, {"id": job.id}, status=201)


async def extend_job(request: web.Request) -> web.Response:
    """PATCH …/{jid} {"expirationDate"}: 200, no body."""
    state = request.app[STATE_KEY]
    fault = state.change_faults.take(request.match_info["jid"].lower())
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    job = find_job(request, state.fleet)
    expiration = parse_extend(await request.read())
    if job.status == "EXPIRED":
        raise errors.cannot_extend_expired()
    if expiration <= state.wall_now():
        raise errors.expiration_not_in_future()
    if expiration > job.creation_date + MAX_EXPIRATION:
        raise errors.expiration_too_distant()
    job.expiration_date = expiration
    return empty()


async def retry_job(request: web.Request) -> web.Response:
    """PUT …/{jid}/retry: a FAILURE job collects again (200, no body)."""
    state = request.app[STATE_KEY]
    fault = state.change_faults.take(request.match_info["jid"].lower())
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    job = find_job(request, state.fleet)
    if job.status != "FAILURE":
        raise errors.only_failed_can_restart()
    state.start_collecting(job, "retried")
    return empty()


async def delete_job(request: web.Request) -> web.Response:
    """DELETE …/{jid}: gone in any state, a running collection with it (200, no body)."""
    state = request.app[STATE_KEY]
    fault = state.change_faults.take(request.match_info["jid"].lower())
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    job = find_job(request, state.fleet)
    jobs = state.fleet.groups[job.group_id]
    del jobs[next(i for i, other in enumerate(jobs) if other is job)]
    state.lifecycle.forget(job.id)
    state.record("deleted", job)
    return empty()


def _insert_newest_first(jobs: list[EmulatedJob], job: EmulatedJob) -> None:
    """Before the first job created at the same time or earlier (a fake clock may go back)."""
    at = next((i for i, other in enumerate(jobs) if other.creation_date <= job.creation_date), None)
    jobs.insert(len(jobs) if at is None else at, job)
