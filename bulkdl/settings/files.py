"""Reading the small files a run starts from (the config, the private key file), bounded.

A FIFO or a device would block the start forever, and a huge file would be read whole, so
each must be a regular file of sane size; checked on the open file (no race with a swap).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

KEY_FILE_MAX: Final = 64 * 1024  # an API private key is a 36-character UUID
CONFIG_FILE_MAX: Final = 1024 * 1024


class NotSmallFile(Exception):
    """Why a file cannot be read as a small regular file (a phrase for an error line)."""


def read_small_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, if it is a regular file of at most `limit` bytes.

    FileNotFoundError when it does not exist; NotSmallFile (naming why) otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise NotSmallFile(f"cannot open it ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotSmallFile(f"not a regular file (a {_kind(st.st_mode)})")
        if st.st_size > limit:
            raise NotSmallFile(f"{st.st_size} bytes, more than such a file holds ({limit} at most)")
        data = os.read(fd, limit + 1)
    except OSError as exc:
        raise NotSmallFile(f"cannot read it ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew since fstat
        raise NotSmallFile(f"more than {limit} bytes")
    return data


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")
