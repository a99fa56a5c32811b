"""``geokb serve --processes N``: several server processes on one port (``api.processes``).

The kernel, running the reuseport program, must give every connection of one client address
to the same process, so that what one process bounds per client still bounds the client. The
tests read which process holds which connection from /proc (socket inodes), not from anything
the server says.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import MINI, write_data
from test_connections import Served, closed_by_peer, wait_until

from api.heavy_slots import HeavySlots
from api.processes import CannotListen, listening_sockets
from kb.build.pipeline import compile_data
from kb.stores.local import write_build

ASK = {"query": "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"}
PER_CLIENT = 2  # --max-client-connections of the server below


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def accepted_by(socks: list[socket.socket]) -> int | None:
    """The index of the socket that holds a pending connection (accepting and closing it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for i, s in enumerate(socks):
            s.setblocking(False)
            try:
                conn, _ = s.accept()
            except BlockingIOError:
                continue
            conn.close()
            return i
        time.sleep(0.01)
    return None


@pytest.mark.parametrize("n", [2, 3])
def test_one_client_address_always_reaches_the_same_socket(n: int) -> None:
    port = free_port()
    socks = listening_sockets("127.0.0.1", port, n)
    try:
        for last in range(2, 10):
            source = f"127.0.0.{last}"
            for _ in range(3):  # new connections (new source ports) from the same address
                with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)):
                    # the address (127.0.0.x as a 32-bit number) modulo n
                    assert accepted_by(socks) == ((0x7F000000 + last) % n), source
    finally:
        for s in socks:
            s.close()


def test_a_port_in_use_is_refused_with_a_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CannotListen, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            listening_sockets("127.0.0.1", port, 2)


def test_an_ipv6_client_address_always_reaches_the_same_socket() -> None:
    port = free_port("::1")
    socks = listening_sockets("::1", port, 3)
    try:
        # a client is its /64 (api.client_keys): ::1's first two 32-bit words XORed are 0
        for _ in range(6):
            with socket.create_connection(("::1", port)):
                assert accepted_by(socks) == 0
    finally:
        for s in socks:
            s.close()


def test_heavy_slots_are_shared_between_processes_and_freed_by_death(tmp_path: Path) -> None:
    mine = HeavySlots(tmp_path, 1)
    taker = (
        "import sys, time; from pathlib import Path; from api.heavy_slots import HeavySlots; "
        f"s = HeavySlots(Path({str(tmp_path)!r}), 1); print(s.take(), flush=True); "
        "time.sleep(60) if len(sys.argv) > 1 else None"
    )

    def other(*hold: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", taker, *hold], stdout=subprocess.PIPE, text=True
        )

    slot = mine.take()
    assert slot == 0
    assert mine.take() is None  # one slot, held here
    with other() as proc:
        assert proc.communicate(timeout=30)[0].strip() == "None"  # held by another process
    mine.give(slot)
    holder = other("hold")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "0"  # the other process took it
        assert mine.take() is None
        holder.kill()  # it dies holding the slot: the kernel gives it back
        holder.wait(timeout=30)
        assert mine.take() == 0
    finally:
        holder.kill()
        holder.wait(timeout=30)


# -- a real 'geokb serve --processes 2' --------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def peers_held(pid: int) -> list[str]:
    """The client addresses of the TCP connections process ``pid`` holds open."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    peers = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if inode in inodes and state == "01":  # ESTABLISHED
            address = bytes.fromhex(remote.split(":")[0])[::-1]  # little-endian on the wire
            peers.append(socket.inet_ntoa(address))
    return peers


def two_processes(root: Path, *flags: str) -> Served:
    """``geokb serve --processes 2`` (one worker each) over a store of MINI built in ``root``."""
    write_build(root / "store", compile_data(write_data(root / "data", MINI)))
    return Served(root / "store", root / "server.log", "--processes", "2", *flags)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("processes")
    server = two_processes(root, "--max-client-connections", str(PER_CLIENT))
    yield server
    if server.process.poll() is None:
        server.stop()


def ask(sock: socket.socket) -> bytes:
    """One GET on a kept-alive connection; the response head's status line."""
    sock.sendall(
        b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n"
    )
    sock.settimeout(20)
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, "closed before the answer"
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_two_processes_serve_and_each_client_stays_with_one(served: Served) -> None:
    servers = children(served.process.pid)
    assert len(servers) == 2
    held: dict[str, list[socket.socket]] = {}
    try:
        for source in ("127.0.0.4", "127.0.0.5"):
            held[source] = [served.connect(source) for _ in range(PER_CLIENT)]
            for sock in held[source]:
                assert ask(sock) == b"HTTP/1.1 200 OK"
        # each address's connections are all in one process, and the two are in different ones
        where = {s: [p for p in servers if s in peers_held(p)] for s in held}
        assert all(len(w) == 1 for w in where.values()), where
        assert where["127.0.0.4"] != where["127.0.0.5"], where
        # so the per-client limit still holds: more from one address are closed at once,
        # though the other process has room for them
        for _ in range(6):
            extra = served.connect("127.0.0.4")
            assert closed_by_peer(extra, 10.0)
            extra.close()
        for sock in held["127.0.0.4"]:  # the ones admitted are still served
            assert ask(sock) == b"HTTP/1.1 200 OK"
    finally:
        for socks in held.values():
            for sock in socks:
                sock.close()


def test_every_process_serves_a_new_build(served: Served, tmp_path: Path) -> None:
    label = "SELECT ?l WHERE { <https://w3id.org/geokb/id/state/IRN> ?p ?l FILTER(isLiteral(?l)) }"
    renamed = {**MINI, "states.yaml": MINI["states.yaml"].replace("label: Iran", "label: Persia")}
    store = served.log.parent / "store"
    write_build(store, compile_data(write_data(tmp_path / "data", renamed)))

    def seen_from(source: str) -> str:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
            return client.get(served.url, params={"query": label}, timeout=20).text

    # 127.0.0.4 and 127.0.0.5 reach different processes: each follows the new build
    for source in ("127.0.0.4", "127.0.0.5"):
        assert wait_until(lambda s=source: "Persia" in seen_from(s), 30), seen_from(source)


def test_a_server_process_that_dies_is_started_again(served: Served) -> None:
    probe = served.connect("127.0.0.6")
    assert ask(probe) == b"HTTP/1.1 200 OK"
    servers = children(served.process.pid)
    victim = next(p for p in servers if "127.0.0.6" in peers_held(p))
    os.kill(victim, signal.SIGKILL)
    probe.close()

    def answered_again() -> bool:
        try:
            with served.connect("127.0.0.6") as sock:
                return ask(sock) == b"HTTP/1.1 200 OK"
        except (OSError, AssertionError):
            return False

    assert wait_until(answered_again, 60)
    now = children(served.process.pid)
    assert len(now) == 2 and victim not in now
    assert served.answers()  # and from the other address, the other process


def test_stopping_the_parent_stops_every_process(served: Served) -> None:
    everyone = children(served.process.pid)
    everyone += [w for p in everyone for w in children(p)]  # and their query workers
    assert len(everyone) >= 4
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    assert wait_until(lambda: not any(map(alive, everyone)), 30)
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.url, params=ASK, timeout=5)


HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def test_heavy_queries_are_rationed_across_the_processes(tmp_path: Path) -> None:
    # One worker each: each process alone would let one heavy query run; together, still one
    server = two_processes(tmp_path, "--heavy-after", "0.3", "--timeout", "4")
    try:

        def heavy(source: str) -> tuple[int, str]:
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(transport=transport, timeout=60) as client:
                answer = client.get(server.url, params={"query": HEAVY})
                return answer.status_code, answer.text

        # 127.0.0.4 and 127.0.0.5 reach different processes (the test above)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(heavy, ["127.0.0.4", "127.0.0.5"]))
        limited = [a for a in answers if "long queries are limited to 1 at a time" in a[1]]
        assert len(limited) == 1, answers
        assert limited[0][0] == 503
        other = next(a for a in answers if a is not limited[0])
        assert "long queries are limited" not in other[1]  # it ran: to its end or timeout
    finally:
        server.stop()


# -- the supervisor alone, with stand-in servers ------------------------------------------

STAND_IN = """
import os, signal, socket, sys, time
from api.processes import Supervisor
mode, pids = sys.argv[1], sys.argv[2]

def serve(sock: socket.socket) -> None:
    with open(pids, "a") as f:
        f.write(f"{os.getpid()}\\n")
    if mode == "exits":
        sys.exit(3)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)

sys.exit(Supervisor([socket.socket(), socket.socket()], serve, (0, 0, 0, 0), 0.5).run())
"""


def supervising(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    """A supervisor of two stand-in servers (``mode``: 'exits' at once, 'sleeps', or
    'stubborn', which ignores SIGTERM), and the file where each writes its pid."""
    pids = tmp_path / "pids"
    pids.touch()
    proc = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, mode, str(pids)], stderr=subprocess.PIPE, text=True
    )
    return proc, pids


def started(pids: Path, n: int) -> list[int]:
    assert wait_until(lambda: len(pids.read_text().split()) >= n, 30)
    return [int(p) for p in pids.read_text().split()]


def test_a_process_that_keeps_dying_makes_the_supervisor_give_up(tmp_path: Path) -> None:
    proc, pids = supervising(tmp_path, "exits")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "keeps exiting (last code 3); stopping" in err
    assert "exited (3); starting it again" in err
    assert len(pids.read_text().split()) >= 5  # it was restarted before it gave up
    assert not any(map(alive, started(pids, 5)))


def test_a_process_that_ignores_the_stop_is_killed_after_the_grace_time(tmp_path: Path) -> None:
    proc, pids = supervising(tmp_path, "stubborn")
    servers = started(pids, 2)
    time.sleep(0.2)  # (their SIGTERM is ignored from here on)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not any(map(alive, servers))


def test_the_processes_die_with_the_supervisor(tmp_path: Path) -> None:
    proc, pids = supervising(tmp_path, "sleeps")
    servers = started(pids, 2)
    proc.kill()  # no chance to pass anything on: the kernel's parent-death signal does it
    proc.wait(timeout=30)
    assert wait_until(lambda: not any(map(alive, servers)), 30)
