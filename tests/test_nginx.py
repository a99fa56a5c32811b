"""nginx's HTTP cache in front of two `geokb serve` replicas of one build, run with the very
configuration the deployment guide ships (docs/nginx.conf): answers repeated from the cache
without reaching geokb, 304s, and a new build seen once max-age has passed."""

from __future__ import annotations

import getpass
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MINI, ROOT, write_data

from kb.cli import main as geokb_main

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
GEOKB = shutil.which("geokb", path=str(Path(sys.executable).parent))
MAX_AGE = 1  # seconds: short, so that the test sees nginx ask again
QUERY = (
    "SELECT ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label } ORDER BY ?label"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            assert process.poll() is None, f"{what} exited with status {process.returncode}"
            assert time.monotonic() < deadline, f"{what} did not start in 30 s"
            time.sleep(0.05)


def nginx_config(folder: Path, listen: int, ports: list[int]) -> Path:
    """docs/nginx.conf with its deployment lines pointed at ``folder`` and the replicas,
    inside a main configuration that keeps every file nginx writes in ``folder``."""
    shipped = (ROOT / "docs" / "nginx.conf").read_text(encoding="utf-8")
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in ports)
    changes = [
        (r"/var/cache/nginx/geokb", str(folder / "cache")),
        (r"(    server 127\.0\.0\.1:\d+;\n)+", servers),
        (r"listen 8080;", f"listen 127.0.0.1:{listen};"),
    ]
    for pattern, replacement in changes:
        shipped, found = re.subn(pattern, replacement, shipped)
        assert found == 1, f"docs/nginx.conf no longer has the line the test changes: {pattern}"
    (folder / "geokb.conf").write_text(shipped, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"""daemon off;
user {getpass.getuser()};
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    log_format replicas '$request_uri $upstream_cache_status $upstream_addr';
    access_log {folder / "access.log"} replicas;
{temp}
    include {folder / "geokb.conf"};
}}
""",
        encoding="utf-8",
    )
    return main


@pytest.fixture()
def cached(tmp_path: Path) -> Iterator[tuple[str, list[str], Path, Path]]:
    """nginx on a free port over two replicas serving one store; yields nginx's URL, the
    replicas' URLs, the data folder and the store."""
    assert NGINX, "nginx is not installed: 'make system-packages' installs it (Debian: nginx)"
    assert GEOKB, "the geokb command is installed with the package ('make install')"
    data = write_data(tmp_path / "data", MINI)
    store = tmp_path / "store"
    assert geokb_main(["build", "--data", str(data), "--store", str(store), "--quiet"]) == 0
    ports = [_free_port(), _free_port()]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            processes.append(
                subprocess.Popen(
                    [
                        *(GEOKB, "serve", "--store", str(store), "--port", str(port)),
                        *("--workers", "1", "--cache-max-age", str(MAX_AGE)),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        listen = _free_port()
        config = nginx_config(tmp_path, listen, ports)
        processes.append(
            subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp_path), "-e", "stderr"])
        )
        replicas = [f"http://127.0.0.1:{p}" for p in ports]
        for url, process in zip([*replicas, f"http://127.0.0.1:{listen}"], processes, strict=True):
            _wait_until_up(url + "/", process, process.args[0])  # type: ignore[index]
        yield f"http://127.0.0.1:{listen}", replicas, data, store
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _until_stale(stored_at: int) -> None:
    """Wait until an answer nginx stored in second ``stored_at`` is past max-age: nginx counts
    whole seconds, and an answer is stale once the second after its last fresh one begins."""
    time.sleep(max(0.0, stored_at + MAX_AGE + 1 - time.time()))


def _upstreams(log: Path, uri: str) -> list[str]:
    """For each request nginx logged for ``uri``: the replica it asked ('-': none)."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [line.split(" ")[2] for line in lines if line.split(" ")[0] == uri]


def test_nginx_answers_repeats_itself_and_sees_a_new_build(
    cached: tuple[str, list[str], Path, Path], tmp_path: Path
) -> None:
    url, replicas, data, store = cached
    params = {"query": QUERY}
    uri = httpx.Request("GET", url + "/sparql", params=params).url.raw_path.decode()
    with httpx.Client(base_url=url, timeout=30, headers={"Accept": "text/csv"}) as client:
        first = client.get("/sparql", params=params)
        stored_at = int(time.time())
        assert first.status_code == 200 and "Iran" in first.text
        assert first.headers["x-cache-status"] == "MISS"
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == f"public, max-age={MAX_AGE}"

        # the same GET again: nginx answers from its cache, no replica is asked
        again = client.get("/sparql", params=params)
        assert again.headers["x-cache-status"] == "HIT"
        assert again.text == first.text and again.headers["etag"] == etag
        # a client holding the answer: 304 without a body, from nginx too
        held = client.get("/sparql", params=params, headers={"If-None-Match": etag})
        assert held.status_code == 304 and held.content == b""
        # another format is another answer, with another ETag
        as_json = client.get("/sparql", params=params, headers={"Accept": "application/json"})
        json_stored_at = int(time.time())
        assert as_json.headers["etag"] != etag and as_json.json()["results"]["bindings"]
        log = tmp_path / "access.log"
        upstreams = _upstreams(log, uri)
        assert upstreams[1:3] == ["-", "-"] and upstreams[0] in {r[7:] for r in replicas}

        # both replicas give the same validators for the same build (and the same Host:
        # answers hold absolute links)
        as_nginx = {"Accept": "text/csv", "Host": url.removeprefix("http://")}
        for replica in replicas:
            direct = httpx.get(replica + "/sparql", params=params, headers=as_nginx)
            assert direct.headers["etag"] == etag
            assert direct.headers["last-modified"] == first.headers["last-modified"]
            asked = httpx.get(
                replica + "/sparql", params=params, headers={**as_nginx, "If-None-Match": etag}
            )
            assert asked.status_code == 304

        # past max-age nginx asks a replica, which says 304 while the build is the same ...
        _until_stale(max(stored_at, json_stored_at))
        revalidated = client.get("/sparql", params=params)
        assert revalidated.headers["x-cache-status"] == "REVALIDATED"
        assert revalidated.text == first.text and revalidated.headers["etag"] == etag

        # ... and sends the new answer, with a new ETag, once a new build of changed data is in
        states = (data / "states.yaml").read_text(encoding="utf-8")
        (data / "states.yaml").write_text(
            states + "  - id: UKR\n    label: Ukraine\n    alpha2: UA\n", encoding="utf-8"
        )
        assert geokb_main(["build", "--data", str(data), "--store", str(store), "--quiet"]) == 0
        json_again = client.get("/sparql", params=params, headers={"Accept": "application/json"})
        assert json_again.headers["x-cache-status"] == "EXPIRED"
        assert "Ukraine" in json_again.text and "Ukraine" not in as_json.text
        assert json_again.headers["etag"] != as_json.headers["etag"]
        # a client's copy from the old build is not current any more
        old = httpx.get(
            replicas[0] + "/sparql", params=params, headers={**as_nginx, "If-None-Match": etag}
        )
        assert old.status_code == 200 and "Ukraine" in old.text and old.headers["etag"] != etag
