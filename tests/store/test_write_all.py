"""sink._write_all: a batch goes out in one writev, and a short write (a signal, a nearly full
disk) continues from the very byte it stopped at, into a real file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from bulkdl.store import archive_file as sink

CHUNKS = [bytes([n]) * size for n, size in enumerate((70_000, 3, 150_001, 1, 65_536), 1)]


def _write(path: Path, chunks: Sequence[bytes]) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        return sink._write_all(fd, chunks)
    finally:
        os.close(fd)


def test_a_batch_is_one_writev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.writev

    def counting(fd: int, buffers: Sequence[bytes]) -> int:
        calls.append(len(buffers))
        return real(fd, buffers)

    monkeypatch.setattr(sink.os, "writev", counting)
    assert _write(tmp_path / "f", CHUNKS) == sum(map(len, CHUNKS))
    assert calls == [len(CHUNKS)]
    assert (tmp_path / "f").read_bytes() == b"".join(CHUNKS)


@pytest.mark.parametrize("stop_at", [1, 69_999, 70_000, 70_002, 220_004, 285_540])
def test_a_short_writev_continues_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_at: int
) -> None:
    """The kernel took only `stop_at` bytes of the batch (inside a chunk or at its edge)."""
    real = os.writev

    def short(fd: int, buffers: Sequence[bytes]) -> int:
        return real(fd, [b"".join(buffers)[:stop_at]])

    monkeypatch.setattr(sink.os, "writev", short)
    assert _write(tmp_path / "f", CHUNKS) == sum(map(len, CHUNKS))
    assert (tmp_path / "f").read_bytes() == b"".join(CHUNKS)


def test_an_empty_batch_writes_nothing(tmp_path: Path) -> None:
    assert _write(tmp_path / "f", []) == 0
    assert (tmp_path / "f").read_bytes() == b""
