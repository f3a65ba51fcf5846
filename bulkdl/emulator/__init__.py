"""An in-process Cloud Manager API emulator: digest auth, paged job lists, real archives.

Used by bulkdl's tests (and for demos) in place of cloud.mongodb.com. See `fleet.demo_fleet`
and `server.EmulatorThread` for the quickest start, `faults.py` to make requests fail on purpose.
"""

from __future__ import annotations

from bulkdl.emulator.app import STATE_KEY, build_app, emulator_state
from bulkdl.emulator.archives import ArchiveCache, make_archive, member_name
from bulkdl.emulator.digest import REALM, NonceStore
from bulkdl.emulator.faults import (
    Always,
    CorruptGzip,
    Fault,
    FaultKind,
    HtmlPage,
    MissingResults,
    NotGzip,
    NotJson,
    RateLimit,
    Redirect,
    RepeatingNext,
    ResetAfter,
    ServerFault,
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
    add_group,
    demo_fleet,
)
from bulkdl.emulator.server import EmulatorThread, RunningEmulator, serve
from bulkdl.emulator.state import Counters, EmulatorState

__all__ = [
    "DEFAULT_LOG_TYPES",
    "DEMO_PRIVATE_KEY",
    "DEMO_PUBLIC_KEY",
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
    "Fault",
    "FaultKind",
    "Fleet",
    "HtmlPage",
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
    "StaleNonce",
    "Stall",
    "TruncatedChunked",
    "add_group",
    "build_app",
    "demo_fleet",
    "emulator_state",
    "make_archive",
    "member_name",
    "parse_fault_spec",
    "parse_fault_specs",
    "serve",
]
