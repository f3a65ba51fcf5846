"""`--extract`: unpack a verified archive to OUT/<groupId>/<jobId>/, safely (blocking; run it
in a thread).

tarfile's `data` filter (PEP 706) refuses absolute paths, `..`, links that leave the folder,
devices and other special files, and drops set-uid bits. Everything is unpacked into a fresh
`<jobId>.part` folder first and renamed into place, so a refused archive leaves nothing behind.
The staging folder, the target and the archive are reached through the group folder's fd and
never through a link: a link planted at any of them fails the job with a line naming it.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from bulkdl.domain.errors import CorruptArchive, DiskError, TransferError
from bulkdl.store.outdir import DIR_MODE, OutDir, open_beneath


def extract_archive(out: OutDir, group: str, job: str) -> Path:
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
            os.mkdir(staging, DIR_MODE, dir_fd=dir_fd)
            archive = os.fdopen(open_beneath(dir_fd, (f"{job}.tar.gz",)), "rb")
        except OSError as exc:
            raise DiskError(f"{folder / staging}: cannot extract ({exc.strerror})") from None
        try:
            with archive, tarfile.open(fileobj=archive, mode="r:gz") as tar:
                tar.extractall(folder / staging, filter="data")
        except tarfile.FilterError as exc:
            _clear(dir_fd, folder, staging)
            raise TransferError(
                f"{job}.tar.gz: refused to extract an unsafe member ({exc})"
            ) from None
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
    return folder / dest


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
