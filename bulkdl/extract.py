"""`--extract`: unpack a verified archive to OUT/<groupId>/<jobId>/, safely (blocking; run it
in a thread).

tarfile's `data` filter (PEP 706) refuses absolute paths, `..`, links that leave the folder,
devices and other special files, and drops set-uid bits. Everything is unpacked into a
`.part` folder first and renamed into place, so a refused archive leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from bulkdl.errors import CorruptArchive, TransferError


def extract_archive(archive: Path, dest: Path) -> Path:
    """Unpack `archive` into `dest` (replacing an earlier extraction); return `dest`."""
    if not hasattr(tarfile, "data_filter"):  # Python < 3.11.4: no safe filter to rely on
        raise TransferError("--extract needs Python 3.11.4 or newer (tarfile's data filter)")
    staging = dest.with_name(dest.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
    except tarfile.FilterError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise TransferError(
            f"{archive.name}: refused to extract an unsafe member ({exc})"
        ) from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise CorruptArchive(f"{archive.name}: cannot extract ({exc})") from None
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(staging, dest)
    return dest
