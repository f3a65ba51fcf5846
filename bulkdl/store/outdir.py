"""The output folder OUT: one writer at a time, and nothing written outside it (blocking calls).

A run holds an exclusive `flock` on `OUT/.bulkdl.lock` from start to end; the kernel drops it
when the process dies, so a crashed run never leaves OUT locked. The lock file names its holder
(pid, host, start time) for the refusal a second run prints.

Every file under OUT is reached through directory fds opened `O_DIRECTORY|O_NOFOLLOW` and
`*at()` calls relative to them, each with `O_NOFOLLOW` or `follow_symlinks=False`: a symlink
planted anywhere inside OUT (a group folder, a `.part`, a final name, the manifest) is refused
with an error that names it, and its target is never opened. Only OUT itself is reached by path
(the folders above it are the user's to choose), and it must not be a link either.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bulkdl.domain.errors import ConfigError, DiskError

LOCK_NAME: Final = ".bulkdl.lock"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_ERRNOS: Final = (errno.ELOOP, errno.ENOTDIR)  # O_NOFOLLOW on a link; a link as a folder


def is_link_error(exc: OSError) -> bool:
    """True when an O_NOFOLLOW / O_DIRECTORY open failed because the name is not what it seems."""
    return exc.errno in _LINK_ERRNOS


def loose_mode(mode: int) -> bool:
    """Group or others may read, write or enter: looser than the 0700/0600 bulkdl creates."""
    return bool(mode & 0o077)


class OutDir:
    """OUT, opened and locked for one run: its fd, the lock, warnings about loose modes."""

    def __init__(self, path: Path, fd: int, lock_fd: int, warnings: list[str]) -> None:
        self.path = path
        self.fd = fd
        self._lock_fd = lock_fd
        self.warnings = warnings
        # Group folder fds, opened once per run: name -> (fd, the folder's (st_dev, st_ino)).
        self._groups: dict[str, tuple[int, tuple[int, int]]] = {}
        self._retired: list[int] = []  # fds of folders moved away mid-run: others may use them
        self._groups_lock = threading.Lock()  # archives of one group finish in several threads

    @classmethod
    def open(cls, path: Path) -> OutDir:
        """Create (0700) or open OUT, take its lock; ConfigError (exit 2) when it cannot."""
        fd = _open_root(path)
        try:
            lock_fd = _lock(path, fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, lock_fd, _loose_folders(path, fd))

    def close(self) -> None:
        """Release the lock (closing its fd), the group folders' and OUT's fds; idempotent."""
        groups = [fd for fd, _ in self._groups.values()]
        for fd in (*groups, *self._retired, self._lock_fd, self.fd):
            if fd >= 0:
                os.close(fd)
        self._groups.clear()
        self._retired.clear()
        self._lock_fd = self.fd = -1

    def group_dir(self, name: str) -> int:
        """A folder directly in OUT as an fd shared for the run: callers never close it.

        Opened (and created) as `open_dir` does, then kept; each call checks that OUT/name is
        still that folder (one lstat), so a folder moved away or replaced by a link mid-run is
        opened anew (a link refused) exactly as when every archive opened its own. One system
        call per archive instead of three (mkdir, open, close), each a moment a worker thread
        gives up the GIL and must win it back.
        """
        cached = self._groups.get(name)
        if cached is not None and _identity(self.fd, name) == cached[1]:
            return cached[0]
        with self._groups_lock:
            cached = self._groups.get(name)
            if cached is not None:
                if _identity(self.fd, name) == cached[1]:
                    return cached[0]
                del self._groups[name]
                self._retired.append(cached[0])  # an archive of the moved folder may still write
            fd = self.open_dir(name)
            st = os.fstat(fd)
            self._groups[name] = (fd, (st.st_dev, st.st_ino))
            return fd

    def open_dir(self, name: str) -> int:
        """A folder directly in OUT (created 0700 when missing), as an fd; DiskError on a link."""
        where = self.path / name
        try:
            os.mkdir(name, DIR_MODE, dir_fd=self.fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DiskError(f"{where}: cannot create the folder ({exc.strerror})") from None
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            if is_link_error(exc):
                raise DiskError(
                    f"{where}: is a symbolic link or not a folder; bulkdl does not follow it"
                ) from None
            raise DiskError(f"{where}: cannot open the folder ({exc.strerror})") from None


def _identity(dir_fd: int, name: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the folder `name` in `dir_fd`, not following a link; None if it is
    gone or not a folder."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _open_root(path: Path) -> int:
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ConfigError(f"output directory {path}: cannot read it ({exc.strerror})") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise ConfigError(
            f"output directory {path} is a symbolic link",
            hint="pass the real folder as --out; bulkdl follows no link inside or at OUT",
        )
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"output path {path} exists and is not a directory")
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise ConfigError(f"output directory {path}: cannot open it ({exc.strerror})") from None


def _lock(path: Path, dir_fd: int) -> int:
    """Take OUT's lock and write our name into it; ConfigError naming the holder if taken."""
    where = path / LOCK_NAME
    try:
        fd = os.open(
            LOCK_NAME,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            FILE_MODE,
            dir_fd=dir_fd,
        )
    except OSError as exc:
        if is_link_error(exc):
            raise ConfigError(f"{where} is a symbolic link; bulkdl does not follow it") from None
        raise ConfigError(f"output directory {path} is not writable ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        holder = "".join(c if c.isprintable() else "?" for c in text) or "another process"
        os.close(fd)
        raise ConfigError(
            f"output directory {path} is in use by another bulkdl run ({holder})",
            hint="wait for it to finish, or choose another --out",
        ) from None
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"{where}: cannot lock it ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:  # never truncate a file shared elsewhere
        os.close(fd)
        raise ConfigError(f"{where} is not a regular file of its own; move it away")
    started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    me = f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, me, 0)
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"output directory {path} is not writable ({exc.strerror})") from None
    return fd


def _loose_folders(path: Path, dir_fd: int) -> list[str]:
    """A warning per folder (OUT and the group folders in it) others may read or enter."""
    found = [(path, os.fstat(dir_fd).st_mode)]
    with os.scandir(dir_fd) as entries:
        found.extend(
            (path / entry.name, entry.stat(follow_symlinks=False).st_mode)
            for entry in entries
            if entry.is_dir(follow_symlinks=False)
        )
    return [
        f"{p} is open to other users (mode {stat.filemode(mode)}); archives hold server logs: "
        f"chmod 700 it"
        for p, mode in sorted(found)
        if loose_mode(mode)
    ]


def open_beneath(dir_fd: int, parts: tuple[str, ...], flags: int = os.O_RDONLY) -> int:
    """Open `dir_fd/parts[0]/.../parts[-1]` following no link at any level; OSError if one is.

    A link anywhere raises OSError with ELOOP or ENOTDIR (see is_link_error).
    """
    fd = dir_fd
    try:
        for name in parts[:-1]:
            inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
            if fd != dir_fd:
                os.close(fd)
            fd = inner
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        if fd != dir_fd:
            os.close(fd)


def open_folder(path: Path) -> int:
    """An existing folder, not a link, as an fd (for readers such as `bulkdl verify`)."""
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if is_link_error(exc):
            raise ConfigError(f"{path} is a symbolic link or not a folder") from None
        raise ConfigError(f"{path}: cannot open it ({exc.strerror})") from None
