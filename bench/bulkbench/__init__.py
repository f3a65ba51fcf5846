"""The bulkdl benchmark harness; `bench/run.py` is its entry point (see bench/README.md)."""
