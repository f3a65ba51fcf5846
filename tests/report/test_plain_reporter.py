"""The plain reporter's lines: written as they are, with what rich's layout used to clean."""

from __future__ import annotations

import io

from rich.console import Console

from bulkdl.domain.models import JobResult, Outcome
from bulkdl.report.progress import PlainReporter

G = "5c8100bcf2a30b12ff88258f"
J = "0123456789abcdef01234567"


def _lines(*results: JobResult, quiet: bool = False) -> list[str]:
    log = io.StringIO()
    reporter = PlainReporter(Console(file=log, width=40), quiet=quiet)
    for result in results:
        reporter.finished(result)
    return log.getvalue().splitlines(keepends=True)


def test_one_unwrapped_line_per_outcome_and_control_codes_escaped() -> None:
    path = f"/srv/out/{G}/{J}.tar.gz"  # longer than the console is wide: never wrapped
    done = JobResult(G, J, "SUCCESS", Outcome.DOWNLOADED, path=path, bytes=65536)
    failed = JobResult(G, J, "SUCCESS", Outcome.FAILED, error="bad\r\x07 answer\tx :fire: é")
    assert _lines(done, failed) == [
        f"downloaded {path} (64.0 KiB)\n",
        f"error: group {G} job {J}: bad\\x0d\\x07 answer\\x09x :fire: é\n",
    ]


def test_quiet_keeps_only_failures() -> None:
    done = JobResult(G, J, "SUCCESS", Outcome.DOWNLOADED, path="a", bytes=1)
    failed = JobResult(G, J, "SUCCESS", Outcome.FAILED, error="boom")
    assert _lines(done, failed, quiet=True) == [f"error: group {G} job {J}: boom\n"]
