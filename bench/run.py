#!/usr/bin/env python3
"""Benchmark `bulkdl download` against `curl --parallel` (and aria2c) over loopback.

    python bench/run.py --settle 20     # the real benchmark (see bench/README.md)
    python bench/run.py --quick         # the CI smoke: tiny workloads, seconds

The harness lives in bench/bulkbench/ (standard library only; its fallback server uses
aiohttp and bulkdl.emulator.digest, which bulkdl already ships). This file only starts it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulkbench.cli import run

if __name__ == "__main__":
    sys.exit(run())
