#!/usr/bin/env python3
"""Benchmark `bulkdl search` against tar|grep, zgrep and rg -z (see bench/bulkbench/search.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulkbench.search import main

if __name__ == "__main__":
    sys.exit(main())
