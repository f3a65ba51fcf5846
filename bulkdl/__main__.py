"""`python -m bulkdl` runs the same CLI as the `bulkdl` console script."""

from __future__ import annotations

from bulkdl.cli.entry import main

main()
