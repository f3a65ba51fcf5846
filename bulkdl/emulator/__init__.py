"""An in-process Cloud Manager API emulator: digest auth, paged job lists, real archives.

Used by bulkdl's tests (and for demos) in place of cloud.mongodb.com. See `fleet.demo_fleet`
and `server.EmulatorThread` for the quickest start, `faults.py` to make requests fail on purpose,
`workflow.py` and `lifecycle.py` for created jobs that collect, finish, fail and retry.
"""

from __future__ import annotations

from bulkdl.emulator.app import STATE_KEY, build_app, emulator_state
from bulkdl.emulator.archives import ArchiveCache, make_archive, member_name
from bulkdl.emulator.digest import REALM, NonceStore
from bulkdl.emulator.events import EVENT_KINDS, Event, EventLog
from bulkdl.emulator.faults import (
    Always,
    CorruptGzip,
    Fault,
    FaultKind,
    HtmlPage,
    MalformedId,
    MissingResults,
    NotGzip,
    NotJson,
    RateLimit,
    Redirect,
    RepeatingNext,
    ResetAfter,
    ServerFault,
    SlowAnswer,
    StaleNonce,
    Stall,
    TruncatedChunked,
)
from bulkdl.emulator.faultspec import parse_fault_spec, parse_fault_specs
from bulkdl.emulator.fleet import (
    DEFAULT_LOG_TYPES,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    JOB_STATUSES,
    LOG_TYPES,
    ChildJob,
    EmulatedJob,
    Fleet,
    GroupInfo,
    add_group,
    demo_fleet,
    group_name_for,
    org_id_for,
)
from bulkdl.emulator.lifecycle import Lifecycle
from bulkdl.emulator.server import EmulatorThread, RunningEmulator, serve
from bulkdl.emulator.state import DEFAULT_COLLECT_DURATION_S, Counters, EmulatorState

__all__ = [
    "DEFAULT_COLLECT_DURATION_S",
    "DEFAULT_LOG_TYPES",
    "DEMO_PRIVATE_KEY",
    "DEMO_PUBLIC_KEY",
    "EVENT_KINDS",
    "JOB_STATUSES",
    "LOG_TYPES",
    "REALM",
    "STATE_KEY",
    "Always",
    "ArchiveCache",
    "ChildJob",
    "CorruptGzip",
    "Counters",
    "EmulatedJob",
    "EmulatorState",
    "EmulatorThread",
    "Event",
    "EventLog",
    "Fault",
    "FaultKind",
    "Fleet",
    "GroupInfo",
    "HtmlPage",
    "Lifecycle",
    "MalformedId",
    "MissingResults",
    "NonceStore",
    "NotGzip",
    "NotJson",
    "RateLimit",
    "Redirect",
    "RepeatingNext",
    "ResetAfter",
    "RunningEmulator",
    "ServerFault",
    "SlowAnswer",
    "StaleNonce",
    "Stall",
    "TruncatedChunked",
    "add_group",
    "build_app",
    "demo_fleet",
    "emulator_state",
    "group_name_for",
    "make_archive",
    "member_name",
    "org_id_for",
    "parse_fault_spec",
    "parse_fault_specs",
    "serve",
]
