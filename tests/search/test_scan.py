"""The engine's parts on crafted input: lines cut by block edges, tar name forms, prefixes."""

from __future__ import annotations

import io
import tarfile

from bulkdl.search.logline import fields, with_children
from bulkdl.search.query import Query
from bulkdl.search.scan import scan
from bulkdl.search.tarstream import ByteSource, members


def _lines(blocks: list[bytes], pattern: bytes, **kw: object) -> list[tuple[int, bytes]]:
    tally = scan(iter(blocks), Query(pattern, **kw))  # type: ignore[arg-type]
    return [(h.lineno, h.text) for h in tally.hits]


def test_lines_cut_by_block_edges_keep_their_numbers() -> None:
    blocks = [b"one\ntw", b"o needle\nthree\nnee", b"dle four", b"\nfive needle"]
    expected = [(2, b"two needle"), (4, b"needle four"), (5, b"five needle")]
    assert _lines(blocks, b"needle") == expected
    assert _lines(blocks, b"ne+dle") == expected  # the regex path agrees with bytes.find
    assert _lines(blocks, b"needle", invert=True) == [(1, b"one"), (3, b"three")]
    assert _lines(blocks, rb"o\sn") == [(2, b"two needle")]  # \s never spans lines
    assert _lines(blocks, rb"three\sn") == []  # "three\nneedle" is no match


def test_tar_reader_reads_pax_and_gnu_long_names() -> None:
    long = "h/" + "x" * 150 + "/mongodb.log"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
            for name, data in ((long, b"a\n"), ("h/short.log", b"b" * 1000)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        got = [(n, b"".join(d)) for n, _, d in members(ByteSource([raw.getvalue()]))]
        assert got == [(long, b"a\n"), ("h/short.log", b"b" * 1000)]


def test_prefixes_of_the_three_formats() -> None:
    j = fields(
        b'{"t":{"$date":"2020-05-01T15:16:17.180+02:00"},"s":"W",  "c":"NETWORK",  "id":22943,'
    )
    assert (j.s, j.c, j.id, j.t_ms) == ("W", "NETWORK", 22943, 1588338977180)
    n = fields(b'{"t":{"$date":{"$numberLong":"1588338977180"}},"s":"I","c":"-","id":1,')
    assert (n.t_ms, n.c) == (1588338977180, "-")
    t = fields(b"2014-11-03T18:28:32.450-0500 E  NETWORK  [initandlisten] waiting")
    assert (t.s, t.c, t.t_ms) == ("E", "NETWORK", 1415057312450)
    a = fields(b"[2026-10-02T17:54:00.123+0000] [.error] [cm/x.go:f:1] boom")
    assert (a.s, a.c, a.t_ms) == ("E", None, 1790963640123)
    assert with_children(frozenset({"NETWORK"})) == {"NETWORK", "ASIO", "CONNPOOL"}
