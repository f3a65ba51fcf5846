"""bulkdl: pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`bulkdl.__version__`, looked up when first asked for: importlib.metadata costs more than
    the rest of `bulkdl --help`, and only `--version` and the HTTP User-Agent need it."""
    if name != "__version__":
        raise AttributeError(f"module 'bulkdl' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("bulkdl")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
