"""A throwaway CA and a server certificate for 127.0.0.1 (trustme), for the HTTPS link.

trustme is one of bulkdl's test dependencies (the venv that runs the bench has it); it is
imported only when a link workload runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path  # what the tools trust: bulkdl's ca_file, curl's --cacert
    cert_chain: Path  # the server's certificate and key, one PEM
    # (the key is a loopback bench's throwaway, generated per run)


def make_tls(folder: Path) -> TlsFiles:
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "ca.pem", folder / "server.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    cert.private_key_and_cert_chain_pem.write_to_path(str(files.cert_chain))
    return files
