"""Builds finishing back to back while a real server answers queries: the builds the server
handed to its query workers are never pruned under them (kb.stores.local.lease)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from conftest import DATA, LiveServer

GEOKB = str(Path(sys.executable).parent / "geokb")
QUERY = "SELECT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } } LIMIT 2000"


def test_queries_during_back_to_back_builds_never_fail_or_show_a_path(tmp_path: Path) -> None:
    shutil.copytree(DATA, tmp_path / "data")
    root = tmp_path / ".geokb"

    def build() -> None:
        done = subprocess.run(
            [GEOKB, "build", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    build()
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def ask(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                # a new query text each time: no answer comes from the cache
                query = f"{QUERY} OFFSET {n}"
                n += 8
                r = client.get("/sparql", params={"query": query})
                answers.append((r.status_code, r.text))

    with LiveServer(root) as server:
        # More clients than query workers: queries wait in the queue with a build's path.
        clients = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for client in clients:
            client.start()
        try:
            for i in range(10):
                with (tmp_path / "data" / "states.yaml").open("a") as f:
                    f.write(f"# edit {i}\n")  # each build is a new, incremental one
                build()
            # the builds the server served are leased for its grace period: kept, where
            # without leases only the current one and the one before it would be left
            assert len(list((root / "builds").iterdir())) > 2
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=120)
    statuses = {status for status, _ in answers}
    print(
        f"{len(answers)} answers: "
        + ", ".join(f"{s}: {sum(a == s for a, _ in answers)}" for s in sorted(statuses))
    )
    assert len(answers) > 50, len(answers)
    assert statuses <= {200, 503}, statuses  # 503: too busy, come back; never a 500
    assert sum(status == 200 for status, _ in answers) > len(answers) / 2
    for _, text in answers:
        assert str(tmp_path) not in text and ".geokb/builds" not in text, text[:300]
