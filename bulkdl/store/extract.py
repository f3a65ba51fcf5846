"""`--extract`: unpack a checked archive to OUT/<groupId>/<jobId>/, safely (blocking; run it
in a thread).

The archive is first read through the archive check (archive_check.py: gzip trailers, every
tar header), which also says how many bytes its files hold: more than `max_ratio` times the
archive (at least 1 MiB), or more than the free disk, is refused before a byte is written.
Then tarfile's `data` filter (PEP 706), member by member: absolute paths, `..`, links that
leave the folder, devices and other special files are refused by name (the rest of the archive
is still unpacked); links that stay inside are made; set-uid bits are dropped. Everything is
unpacked into a fresh `<jobId>.part` folder first and renamed into place, so a failed archive
leaves nothing behind. The staging folder, the target and the archive are reached through the
group folder's fd and never through a link: a link planted at any of them fails the job.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bulkdl.domain.errors import CorruptArchive, DiskError, TransferError
from bulkdl.store.archive_check import Verdict, check_archive_fd
from bulkdl.store.outdir import DIR_MODE, OutDir, open_beneath

MIN_CAP: Final = 1024 * 1024  # a small archive is never refused for its ratio alone


@dataclass(frozen=True, slots=True)
class Extracted:
    """Where an archive was unpacked, and the members refused by the data filter."""

    path: Path
    refused: tuple[str, ...] = ()


def extract_archive(out: OutDir, group: str, job: str, *, max_ratio: int = 200) -> Extracted:
    """Unpack OUT/group/job.tar.gz into OUT/group/job/ (replacing an earlier extraction)."""
    import tarfile  # here: only --extract needs it, and a download starts sooner without

    if not hasattr(tarfile, "data_filter"):  # Python < 3.11.4: no safe filter to rely on
        raise TransferError("--extract needs Python 3.11.4 or newer (tarfile's data filter)")
    folder = out.path / group
    staging, dest = f"{job}.part", job
    dir_fd = out.open_dir(group)
    try:
        _clear(dir_fd, folder, staging)
        _clear(dir_fd, folder, dest, check_only=True)
        try:
            archive = os.fdopen(open_beneath(dir_fd, (f"{job}.tar.gz",)), "rb")
        except OSError as exc:
            raise DiskError(f"{folder / job}.tar.gz: cannot extract ({exc.strerror})") from None
        with archive:
            verdict = _check_fits(archive, folder, f"{job}.tar.gz", max_ratio)
            try:
                os.mkdir(staging, DIR_MODE, dir_fd=dir_fd)
            except OSError as exc:
                raise DiskError(f"{folder / staging}: cannot extract ({exc.strerror})") from None
            refused: list[str] = []
            try:
                archive.seek(0)
                if not verdict.empty:  # tarfile calls a gzip of nothing "empty file"
                    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                        tar.extractall(folder / staging, filter=_data_filter(refused))  # noqa: S202  # the data filter, per member
            except (tarfile.TarError, OSError, EOFError) as exc:
                _clear(dir_fd, folder, staging)
                raise CorruptArchive(f"{job}.tar.gz: cannot extract ({exc})") from None
        _clear(dir_fd, folder, dest)
        try:
            os.replace(staging, dest, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            raise DiskError(f"{folder / dest}: cannot rename into place ({exc.strerror})") from None
    finally:
        os.close(dir_fd)
    return Extracted(folder / dest, tuple(refused))


def _check_fits(archive: Any, folder: Path, name: str, max_ratio: int) -> Verdict:
    """The archive check, and the cap on what its files would take (TransferError)."""
    size = os.fstat(archive.fileno()).st_size
    verdict = check_archive_fd(archive.fileno(), name)
    holds = verdict.member_bytes or 0
    cap = max(MIN_CAP, size * max_ratio)
    free = shutil.disk_usage(folder).free
    if holds > min(cap, free):
        why = (
            f"more than extract_max_ratio ({max_ratio}) times its size"
            if holds > cap
            else "more than the free disk"
        )
        raise TransferError(
            f"{name}: not extracted: its files would take {holds} bytes, {why} "
            f"({min(cap, free)} bytes allowed); raise extract_max_ratio if it is expected"
        )
    return verdict


def _data_filter(refused: list[str]) -> Any:
    """tarfile's data filter, refusing one member (named in `refused`) instead of all."""
    import tarfile

    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as exc:
            refused.append(f"{member.name!r} ({exc})")
            return None

    return keep


def _clear(dir_fd: int, folder: Path, name: str, *, check_only: bool = False) -> None:
    """Remove folder/name (a folder of ours) unless it is a link or a file: those fail the job."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DiskError(f"{folder / name}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise DiskError(f"{folder / name}: is a symbolic link; bulkdl does not follow it")
    if not stat.S_ISDIR(st.st_mode):
        raise DiskError(f"{folder / name}: is in the way (not a folder)")
    if not check_only:
        try:
            shutil.rmtree(name, dir_fd=dir_fd)  # never follows links inside it
        except OSError as exc:
            raise DiskError(f"{folder / name}: cannot remove ({exc.strerror})") from None
