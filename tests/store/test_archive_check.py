"""The archive check on bytes: both ways in (pushed while written, read back) agree."""

from __future__ import annotations

import io

import pytest

from bulkdl.domain.errors import CorruptArchive
from bulkdl.emulator.archive_faults import BadCrc, NoTrailer, spoil
from bulkdl.emulator.archive_kinds import ARCHIVE_KINDS, render_kind
from bulkdl.emulator.archives import corrupt_archive
from bulkdl.store.archive_check import GzipCheck, Verdict, check_archive

KINDS = [k for k in ARCHIVE_KINDS if k != "logs"]


def _both(data: bytes, step: int = 997) -> tuple[Verdict, Verdict]:
    pushed = GzipCheck("a.tar.gz")
    for at in range(0, len(data), step):
        pushed.feed(data[at : at + step])
    return pushed.end(), check_archive(io.BytesIO(data), "a.tar.gz")


def _pushed(data: bytes) -> Verdict:
    check = GzipCheck("a.tar.gz")
    check.feed(data)
    return check.end()


@pytest.mark.parametrize("kind", KINDS)
def test_valid_forms_pass_both_ways(kind: str) -> None:
    data = render_kind(kind, "node0.example.net", 16 * 1024, 0)
    for form in (data, data + data, data + bytes(64)):  # multi-member, zero padding
        pushed, full = _both(form)
        assert pushed.empty == full.empty == kind.startswith("empty")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("spoiled", "named"),
    [
        (lambda b: spoil(b, BadCrc()), "CRC32 does not match"),
        (lambda b: spoil(b, NoTrailer()), "ends before its trailer"),
        (lambda b: b[: len(b) // 2], "ends before its trailer"),
        (lambda b: b + b"junk", "after the gzip stream's end are not gzip"),
    ],
)
def test_broken_forms_fail_both_ways_naming_why(kind: str, spoiled: object, named: str) -> None:
    data = spoiled(render_kind(kind, "node0.example.net", 16 * 1024, 0))  # type: ignore[operator]
    with pytest.raises(CorruptArchive, match=named):
        _pushed(data)
    with pytest.raises(CorruptArchive, match=named):
        check_archive(io.BytesIO(data), "a.tar.gz")


def test_a_broken_deflate_stream_fails_both_ways() -> None:
    data = corrupt_archive(render_kind("bomb", "n", 16, 0))
    with pytest.raises(CorruptArchive, match="not a valid gzip stream"):
        _both(data)


def test_zeros_then_data_is_not_an_empty_archive() -> None:
    import gzip

    data = gzip.compress(bytes(1024) + b"not a tar header" + bytes(496))
    with pytest.raises(CorruptArchive, match="data follows"):
        check_archive(io.BytesIO(data), "a.tar.gz")
