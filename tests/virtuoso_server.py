"""OpenLink Virtuoso (Debian's ``virtuoso-opensource``) as a remote store for the tests.

One ``virtuoso-t -f`` process per test session, its database and ``virtuoso.ini`` in a
temporary folder, HTTP and ISQL on free ports of 127.0.0.1. Through ``isql-vt`` the
``SPARQL`` user (the anonymous ``/sparql`` and ``/sparql-graph-crud``) is granted
SPARQL_UPDATE; ``dba`` (password ``dba`` on a fresh database) reaches the digest-protected
``/sparql-auth`` and ``/sparql-graph-crud-auth``. One more endpoint, ``/sparql-limited``, is
the same ``/sparql`` with a row cap of ``LIMITED_ROWS`` and a time limit of one second, for
the truncation and time-limit cases (Virtuoso reads both per request from the connection,
which the endpoint's hook sets; the rest of the server keeps its defaults).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

VIRTUOSO = shutil.which("virtuoso-t")
ISQL = shutil.which("isql-vt")
DBA = ("dba", "dba")  # a fresh database's administrator
LIMITED_ROWS = 5
GEOKB_GRAPHS = "https://w3id.org/geokb/"

INI = """\
[Database]
DatabaseFile = {folder}/virtuoso.db
ErrorLogFile = {folder}/virtuoso.log
LockFile = {folder}/virtuoso.lck
TransactionFile = {folder}/virtuoso.trx
xa_persistent_file = {folder}/virtuoso.pxa
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {folder}/virtuoso-temp.db
TransactionFile = {folder}/virtuoso-temp.trx

[Parameters]
ServerPort = 127.0.0.1:{isql_port}
DisableUnixSocket = 1
DirsAllowed = ., {folder}
NumberOfBuffers = 2000
MaxDirtyBuffers = 1200
ThreadsPerQuery = 1
MaxQueryMem = 100M
CheckpointInterval = 0

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {folder}
ServerThreads = 4
MaxClientConnections = 4

[SPARQL]
; Virtuoso's own defaults, as a deployment has them
ResultSetMaxRows = 10000
MaxQueryExecutionTime = 60
"""

SETUP_SQL = f"""\
GRANT SPARQL_UPDATE TO "SPARQL";
create function DB.DBA.GEOKB_TEST_LIMITS (in realm varchar) returns integer
{{
  connection_set ('SPARQL/ResultSetMaxRows', {LIMITED_ROWS});
  connection_set ('SPARQL/MaxQueryExecutionTime', 1);
  return 1;
}};
DB.DBA.VHOST_DEFINE (lpath=>'/sparql-limited', ppath=>'/!sparql/', is_dav=>1,
  vsp_user=>'dba', opts=>vector ('noinherit', 1), auth_fn=>'DB.DBA.GEOKB_TEST_LIMITS');
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class VirtuosoServer:
    """``virtuoso-t`` with its database in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.http_port = _free_port()
        self.isql_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start_s = 0.0  # how long the last start took, to the first answer of /sparql

    def url(self, path: str) -> str:
        """The URL of an endpoint, e.g. ``/sparql-auth``."""
        return f"http://127.0.0.1:{self.http_port}{path}"

    @property
    def query_url(self) -> str:
        return self.url("/sparql")

    def start(self) -> None:
        """Write the configuration, start the server, wait for /sparql, set it up."""
        if VIRTUOSO is None or ISQL is None:
            pytest.fail(
                "virtuoso-t / isql-vt not found: install Virtuoso (Debian package "
                "virtuoso-opensource) with `make system-packages`",
                pytrace=False,
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        ini = self.folder / "virtuoso.ini"
        ini.write_text(
            INI.format(folder=self.folder, http_port=self.http_port, isql_port=self.isql_port)
        )
        started = time.monotonic()
        with (self.folder / "stdout.log").open("wb") as log:
            self.process = subprocess.Popen(
                [VIRTUOSO, "-f", "-c", str(ini)],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = started + 60
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.folder / "virtuoso.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"Virtuoso did not start; its log ends:\n{log_text[-2000:]}")
            try:
                if httpx.get(self.query_url, params={"query": "ASK {}"}, timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.isql(SETUP_SQL)
        self.start_s = time.monotonic() - started

    def isql(self, sql: str) -> str:
        """Run SQL statements through ``isql-vt`` as dba; fail on any error."""
        assert ISQL is not None
        script = self.folder / "run.sql"
        script.write_text(sql)
        done = subprocess.run(
            [ISQL, f"127.0.0.1:{self.isql_port}", *DBA, str(script)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "*** Error" not in output, output
        return output

    def clear(self) -> None:
        """Drop every geokb graph. (One STRSTARTS filter: Virtuoso answers it from an
        index; with an ``||`` of two it scans every quad of every graph.)"""
        found = httpx.post(
            self.query_url,
            data={
                "query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } "
                f'FILTER(STRSTARTS(STR(?g), "{GEOKB_GRAPHS}")) }}'
            },
            headers={"Accept": "application/sparql-results+json"},
            timeout=30,
        )
        found.raise_for_status()
        graphs = [b["g"]["value"] for b in found.json()["results"]["bindings"]]
        if graphs:
            update = " ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in graphs)
            httpx.post(self.query_url, data={"update": update}, timeout=30).raise_for_status()

    def stop(self) -> None:
        """Stop the server (its database is thrown away with the folder)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtuosoServer]:
    """One Virtuoso for the session."""
    server = VirtuosoServer(tmp_path_factory.mktemp("virtuoso"))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def virtuoso(virtuoso_server: VirtuosoServer) -> VirtuosoServer:
    """The session's Virtuoso with no geokb graphs in it."""
    virtuoso_server.clear()
    return virtuoso_server
