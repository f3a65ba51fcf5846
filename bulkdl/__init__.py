"""bulkdl: pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bulkdl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
