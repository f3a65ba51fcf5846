"""Each command's help epilog: an Examples section (as mongocli's help has) and, for the
commands that call the API, where the key pair comes from. Plain text, kept out of the command
modules so that `--help` shows them without loading anything else."""

from __future__ import annotations

from typing import Final

# Shown under every command that calls the API: where the key pair comes from.
CREDENTIALS: Final = (
    "Credentials: BULKDL_PUBLIC_KEY and BULKDL_PRIVATE_KEY, or public_key and private_key_file "
    "in the config file, or a mongocli/atlas profile (-P NAME, MCLI_PROFILE; mongocli's "
    "'default' profile when nothing else names a key)."
)

# Command -> (summary for the command list, example lines). The summary is one full line: the
# command list would otherwise cut the docstring's first sentence with "...".
HELP: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "groups": (
        "List the groups (projects) the API key can see.",
        ("bulkdl groups", "bulkdl groups --org 5f0c0ffee0000000000000aa -o csv"),
    ),
    "list": (
        "List log-collection jobs across groups, filtered.",
        (
            "bulkdl list --all-groups --status SUCCESS --since 12h",
            "bulkdl list --group 5a71b4c498ab7c8a81000000 -v -o json",
        ),
    ),
    "collect": (
        "Create a log-collection job per group; wait, download.",
        (
            "# the incident one-liner: last two hours of mongod logs, every prod group",
            "bulkdl collect --group-name 'prod-*' --resource-type replicaset "
            "--resource-name rs0 --log-types MONGODB --from 2h --to now --download "
            "--out ~/incident-42",
            "bulkdl collect ... --from 02:10 --to 04:10 --dry-run   # HH:MM is today, UTC",
        ),
    ),
    "extend": (
        "Push the selected jobs' expiration N days out.",
        ("bulkdl extend --out ~/incident-42 --created-here --days 30 --dry-run",),
    ),
    "retry": (
        "Retry the selected FAILURE jobs.",
        ("bulkdl retry --all-groups --since 1d", "bulkdl retry --out ~/incident-42 --created-here"),
    ),
    "delete": (
        "Delete the selected jobs (asks first unless --yes).",
        (
            "bulkdl delete --out ~/incident-42 --created-here --dry-run",
            "bulkdl delete --group 5a71b4c498ab7c8a81000000 --status EXPIRED --yes",
        ),
    ),
    "download": (
        "Download every downloadable archive of the selected groups.",
        (
            "bulkdl download --all-groups --out ~/pulls/today",
            "bulkdl download --out ~/incident-42 --created-here --extract",
            "bulkdl download --group 5a71b4c498ab7c8a81000000 --out x -o csv > pull.csv",
        ),
    ),
    "verify": (
        "Check a finished pull against its manifest.",
        ("bulkdl verify ~/incident-42", "bulkdl verify ~/incident-42 -o json"),
    ),
    "emulate": (
        "Serve a Cloud Manager emulator on 127.0.0.1 for rehearsals.",
        ("bulkdl emulate --port 8089", "bulkdl emulate --flaky 503,reset:20000 --rate-limit 100"),
    ),
    "demo": (
        "Start the emulator and download everything from it.",
        ("bulkdl demo", "bulkdl demo --out /tmp/demo -o json"),
    ),
    "search": (
        "Search the pulled archives' logs without extracting them (grep-style).",
        (
            "bulkdl search -F 'connection refused' bulkdl-demo",
            "bulkdl search --severity E,W --component REPL --timeline . bulkdl-demo",
            "bulkdl search --summary --from 10:00 --to 10:15 -F election ./incident-4711",
        ),
    ),
}


def summary(command: str) -> str:
    return HELP[command][0]


def epilog(command: str, *, api: bool = True) -> str:
    """Examples (kept as typed: click's `\\b` stops it rewrapping them), then the credentials."""
    lines = "\n".join(f"  {line}" for line in HELP[command][1])
    text = f"\b\nExamples:\n{lines}"
    return f"{text}\n\n{CREDENTIALS}" if api else text
