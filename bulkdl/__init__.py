"""bulkdl: pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet."""

# The one place the version is written: pyproject.toml reads it from here (setuptools' `attr`,
# read without importing), and `bulkdl --version` prints it without importing importlib.metadata
# (tens of milliseconds: a large part of that command's start-up).
__version__ = "0.1.0"
