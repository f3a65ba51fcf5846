"""The archive sniffer's verdict depends on the body, never on how the network cut it into
chunks: a real archive passes and a login page, JSON, plain gzip or a cut body is refused with
the same message, whatever the chunk boundaries."""

from __future__ import annotations

import gzip
import io
import itertools
import tarfile
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.domain.archive_head import NotArchive, TarGzSniffer


def _tar_gz(name: str, data: bytes, level: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=level)


names = st.text(alphabet="abcdefghij/._-", min_size=1, max_size=40).filter(lambda n: n[0] != "/")
archives = st.builds(_tar_gz, names, st.binary(max_size=3000), st.integers(0, 9))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """An archive cut short, or with one byte changed."""
    body = draw(archives)
    at = draw(st.integers(0, len(body) - 1))
    if draw(st.booleans()):
        return body[:at]
    return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]


bodies = st.one_of(
    archives,
    damaged(),
    st.binary(max_size=2000).map(gzip.compress),  # gzip, not of a tar
    st.binary(max_size=600).map(lambda b: b"\x1f\x8b" + b),  # the magic, then anything
    st.sampled_from([b"<html><body>Sign in</body></html>", b'{"errorCode":"NOT_FOUND"}']),
    st.binary(max_size=2000),
)


def _verdict(chunks: list[bytes]) -> str:
    sniffer = TarGzSniffer()
    try:
        for chunk in chunks:
            sniffer.feed(chunk)
        sniffer.end()
    except NotArchive as exc:
        return f"refused: {exc}"
    return "archive"


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A body and the same bytes cut at any points (empty chunks included)."""
    body = draw(bodies)
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    edges = [0, *cuts, len(body)]
    return body, [body[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=60, deadline=None)
@given(chunked())
def test_the_verdict_does_not_depend_on_the_chunk_boundaries(
    case: tuple[bytes, list[bytes]],
) -> None:
    body, chunks = case
    assert b"".join(chunks) == body
    assert _verdict(chunks) == _verdict([body])
    assert _verdict(chunks) == _verdict([bytes([b]) for b in body])  # one byte at a time


@settings(max_examples=60, deadline=None)
@given(archives, st.integers(1, 4096))
def test_a_real_archive_passes_in_chunks_of_any_size(body: bytes, size: int) -> None:
    assert _verdict([body[i : i + size] for i in range(0, len(body), size)]) == "archive"


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=2000))
def test_a_body_without_the_gzip_magic_is_refused(body: bytes) -> None:
    if not body.startswith(b"\x1f\x8b"[: len(body)]):
        assert _verdict([body]).startswith("refused: not a gzip archive")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=5000), st.integers(-1, 9))
def test_gzip_of_anything_but_a_tar_is_refused(data: bytes, level: int) -> None:
    body = zlib.compress(data, level, wbits=31)
    empty = not data or data[:512] == bytes(512)  # a gzip of nothing or an empty tar: valid
    if data[257:262] != b"ustar" and not empty:
        assert _verdict([body]).startswith("refused: gzip, but")


@settings(max_examples=30, deadline=None)
@given(st.integers(-1, 9), st.integers(0, 4), st.integers(1, 64))
def test_an_empty_archive_is_an_archive_under_any_chunking(
    level: int, blocks: int, step: int
) -> None:
    """A gzip of nothing, or of an empty tar's zero blocks, is a job that collected no logs."""
    body = zlib.compress(bytes(512 * blocks), level, wbits=31)
    assert _verdict([body[i : i + step] for i in range(0, len(body), step)]) == "archive"
