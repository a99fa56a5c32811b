"""The query worker sandbox, each check in a real spawned process that enters it: no network
(real loopback listeners in the test never hear from it), AF_UNIX pipes still work, memory
is capped, and the worker dies with its parent."""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest

from api import sandbox
from api.sandbox import SandboxError

# Children import this module to find their target: its top-level imports stay light (the
# conftest helpers, which import the whole app, are imported only by the test that builds).
_CTX = multiprocessing.get_context("spawn")  # as api/executor.py starts workers
TESTS = Path(__file__).resolve().parent
MB = 1024 * 1024

Probe = Callable[..., Any]


def _child(
    conn: Connection, parent_pid: int, memory_mb: int, probe: Probe, args: tuple[Any, ...]
) -> None:
    """Runs in the spawned process: enter the sandbox (unless memory_mb is 0), run the probe,
    send back ("ok", result) or ("raised", exception type name, message)."""
    if memory_mb:
        sandbox.enter(parent_pid, memory_mb)
    try:
        conn.send(("ok", probe(*args)))
    except Exception as exc:
        conn.send(("raised", type(exc).__name__, str(exc)))


def run_in_child(
    probe: Probe,
    *args: Any,
    memory_mb: int = 512,
    parent_pid: int | None = None,
) -> tuple[Any, ...]:
    """Run ``probe(*args)`` in a fresh spawned process, sandboxed with ``memory_mb`` (0: not
    sandboxed, the control); return its message, or ("died", exit code) if it sent none."""
    ours, theirs = _CTX.Pipe()
    pid = os.getpid() if parent_pid is None else parent_pid
    process = _CTX.Process(target=_child, args=(theirs, pid, memory_mb, probe, args))
    process.start()
    theirs.close()
    try:
        msg: tuple[Any, ...] = ours.recv() if ours.poll(60) else ("no answer in 60 s",)
    except EOFError:
        msg = ("died",)
    process.join(timeout=30)
    if process.is_alive():
        process.kill()
        process.join()
    ours.close()
    return (*msg, process.exitcode) if msg[0] == "died" else msg


class TcpListener:
    """A loopback TCP listener that counts the connections it accepts (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() would not
        self.sock.close()
        self.thread.join(timeout=10)


@pytest.fixture()
def listener() -> Iterator[TcpListener]:
    """A loopback TCP listener for the sandbox to (fail to) reach."""
    server = TcpListener()
    yield server
    server.close()


# --- probes: run inside the spawned process -------------------------------------------------


def service_query(port: int) -> str:
    """pyoxigraph's own HTTP client, as a SERVICE clause that slipped through would use it."""
    query = f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}"
    return str(list(ox.Store().query(query)))  # type: ignore[arg-type]


def tcp_connect(port: int) -> str:
    """A plain TCP connection to loopback."""
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    return "connected"


def udp_send(port: int) -> str:
    """A UDP datagram to loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"hello", ("127.0.0.1", port))
    return "sent"


def open_socket(family: int, kind: int) -> str:
    """Only create a socket of this family."""
    socket.socket(family, kind).close()
    return "opened"


def unix_ipc() -> list[bytes]:
    """AF_UNIX socketpairs and multiprocessing pipes, as the worker's own pipe uses."""
    a, b = socket.socketpair()
    a.sendall(b"pair")
    got = [b.recv(10)]
    a.close()
    b.close()
    left, right = multiprocessing.Pipe()
    left.send(b"pipe")
    got.append(right.recv())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM):
        got.append(b"unix socket")
    return got


def raw_syscall(number: int, *args: int) -> int:
    """The errno of a system call made directly (0 if it succeeded)."""
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    return 0 if result >= 0 else ctypes.get_errno()


def memory(megabytes: int) -> int:
    """Allocate and touch ``megabytes``; after a MemoryError, show the process still works."""
    try:
        block = bytearray(megabytes * MB)
        return len(block) // MB
    except MemoryError:
        return -len(bytearray(8 * MB)) // MB


def rlimit_data() -> tuple[int, int]:
    """The process's RLIMIT_DATA."""
    return resource.getrlimit(resource.RLIMIT_DATA)


def huge_string(doublings: int) -> str:
    """A query that doubles a 16-byte string ``doublings`` times (2^24: 256 MiB)."""
    binds = ['BIND("aaaaaaaaaaaaaaaa" AS ?a0)'] + [
        f"BIND(CONCAT(?a{i}, ?a{i}) AS ?a{i + 1})" for i in range(doublings)
    ]
    query = f"SELECT (STRLEN(?a{doublings}) AS ?n) WHERE {{ {' '.join(binds)} }}"
    rows = list(ox.Store().query(query))  # type: ignore[arg-type]
    return str(rows[0][0].value)


def store_query(path: str) -> list[str]:
    """Open a real build read-only and query it."""
    store = ox.Store.read_only(path)
    query = """SELECT ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label }
               ORDER BY ?label"""
    rows = store.query(query, use_default_graph_as_union=True)
    return [row[0].value for row in rows]  # type: ignore[union-attr]


def socket_in_old_thread() -> str:
    """A thread started *before* the sandbox is entered is covered too (TSYNC)."""
    go, result = threading.Event(), []

    def later() -> None:
        go.wait()
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
            result.append("opened")
        except PermissionError:
            result.append("denied")

    thread = threading.Thread(target=later)
    thread.start()
    sandbox.enter(os.getppid(), 512)
    go.set()
    thread.join()
    return result[0]


# --- tests -------------------------------------------------------------------------------


def test_service_clause_cannot_reach_a_loopback_listener(listener: TcpListener) -> None:
    # control: unsandboxed, pyoxigraph really connects (the listener hangs up on it)
    control = run_in_child(service_query, listener.port, memory_mb=0)
    assert control[0] == "raised"
    assert listener.accepted == 1
    msg = run_in_child(service_query, listener.port)
    assert msg[0] == "raised", msg
    time.sleep(0.5)  # a connection, had one been made, has long been accepted
    assert listener.accepted == 1


def test_tcp_connect_is_denied(listener: TcpListener) -> None:
    msg = run_in_child(tcp_connect, listener.port)
    assert msg[:2] == ("raised", "PermissionError"), msg
    assert listener.accepted == 0


def test_udp_datagrams_are_not_sent() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        receiver.settimeout(10)
        assert run_in_child(udp_send, port, memory_mb=0) == ("ok", "sent")  # control
        assert receiver.recv(100) == b"hello"
        msg = run_in_child(udp_send, port)
        assert msg[:2] == ("raised", "PermissionError"), msg
        receiver.settimeout(0.5)
        with pytest.raises(TimeoutError):
            receiver.recv(100)


@pytest.mark.parametrize(
    ("family", "kind"),
    [
        (socket.AF_INET6, socket.SOCK_STREAM),
        (socket.AF_INET, socket.SOCK_RAW),
        (socket.AF_NETLINK, socket.SOCK_RAW),
        (socket.AF_PACKET, socket.SOCK_DGRAM),
    ],
)
def test_every_other_address_family_is_denied(family: int, kind: int) -> None:
    assert run_in_child(open_socket, family, kind)[:2] == ("raised", "PermissionError")


def test_unix_sockets_and_multiprocessing_pipes_still_work() -> None:
    assert run_in_child(unix_ipc) == ("ok", [b"pair", b"pipe", b"unix socket"])


def test_io_uring_and_other_abis_are_denied() -> None:
    if os.uname().machine != "x86_64":
        pytest.fail("this test knows the x86_64 system call numbers only")
    io_uring_setup, x32_socket = 425, 41 | sandbox.X32_SYSCALL_BIT
    # unsandboxed, io_uring_setup(8, NULL) fails on the NULL pointer, not with EACCES
    assert run_in_child(raw_syscall, io_uring_setup, 8, 0, memory_mb=0)[1] != errno.EACCES
    assert run_in_child(raw_syscall, io_uring_setup, 8, 0) == ("ok", errno.EACCES)
    assert run_in_child(raw_syscall, x32_socket, socket.AF_INET, socket.SOCK_STREAM, 0) == (
        "ok",
        errno.EACCES,
    )


def test_threads_started_before_the_sandbox_are_covered() -> None:
    # memory_mb=0: the probe enters the sandbox itself, after starting its thread
    assert run_in_child(socket_in_old_thread, memory_mb=0) == ("ok", "denied")


def test_memory_beyond_the_limit_fails_and_work_within_it_succeeds() -> None:
    assert run_in_child(rlimit_data, memory_mb=256) == ("ok", (256 * MB, 256 * MB))
    assert run_in_child(memory, 160, memory_mb=256) == ("ok", 160)
    # beyond, and far beyond: MemoryError, and the process goes on working
    assert run_in_child(memory, 300, memory_mb=256) == ("ok", -8)
    assert run_in_child(memory, 300, memory_mb=1024) == ("ok", 300)  # control
    assert run_in_child(memory, 8192, memory_mb=256) == ("ok", -8)
    # pyoxigraph (Rust) aborts on a failed allocation: the pool replaces the worker
    assert run_in_child(huge_string, 4, memory_mb=256) == ("ok", "256")
    msg = run_in_child(huge_string, 24, memory_mb=256)  # 256 MiB, then copies of it
    assert msg[0] == "died" or msg[0] == "raised", msg


def test_a_real_read_only_store_works_inside(tmp_path: Path) -> None:
    from conftest import MINI, write_data

    from kb.build.pipeline import compile_data
    from kb.stores.local import current_build, write_build

    write_build(tmp_path / "store", compile_data(write_data(tmp_path / "data", MINI)))
    build = current_build(tmp_path / "store")
    assert build is not None
    msg = run_in_child(store_query, str(build), memory_mb=256)
    assert msg[0] == "ok", msg
    assert {"Iran", "Russia", "Drone X"} <= set(msg[1])


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    # parent_pid is not the child's parent: as if the server died before the child started
    assert run_in_child(unix_ipc, parent_pid=1) == ("died", 0)


def test_bad_arguments_fail_closed() -> None:
    with pytest.raises(SandboxError, match="pid"):
        sandbox.enter(0, 256)
    with pytest.raises(SandboxError, match="positive"):
        sandbox.limit_memory(0)


# --- death with the parent ----------------------------------------------------------------


def sleep_sandboxed(parent_pid: int, ready: Any) -> None:
    """A sandboxed child that says so (``ready``, stdout) and then waits forever."""
    sandbox.enter(parent_pid, 256)
    print("sandboxed", flush=True)
    ready.set()
    time.sleep(600)


PARENT = f"""
import multiprocessing, os, sys, threading, time
sys.path.insert(0, {str(TESTS)!r})
from test_sandbox import sleep_sandboxed

def start():
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=sleep_sandboxed, args=(os.getpid(), ready))
    child.start()
    print(child.pid, flush=True)
    ready.wait(60)  # PDEATHSIG is set: only now may this thread end

if __name__ == "__main__":
    if sys.argv[1] == "thread":  # from a short-lived thread, as a thread pool would
        thread = threading.Thread(target=start)
        thread.start()
        thread.join()
    else:
        start()
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone (ENOENT), or reaped between the open and the read (ESRCH)
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie waiting for its reaper


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def _start_parent(how: str) -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE, text=True, cwd=TESTS.parent
    )
    out = parent.stdout
    assert out is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(out.readline() for _ in "12"))
    reader.start()
    reader.join(timeout=60)  # no hang if the parent misbehaves
    if reader.is_alive():
        parent.kill()
    assert [line.strip() for line in lines][1:] == ["sandboxed"], lines
    return parent, int(lines[0])


def test_the_worker_dies_with_its_parent() -> None:
    parent, child = _start_parent("main")
    try:
        assert not _wait_gone(child, 1)  # alive while its parent is
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        assert _wait_gone(child, 10)
    finally:
        parent.kill()
        parent.wait()


def test_pdeathsig_follows_the_thread_that_started_the_worker() -> None:
    # Linux sends PDEATHSIG when the *thread* that forked the child exits: a worker started
    # from a thread pool that retires idle threads would die with that thread.
    parent, child = _start_parent("thread")
    try:
        assert _wait_gone(child, 10)
        assert parent.poll() is None  # the parent itself is alive
    finally:
        parent.kill()
        parent.wait()
