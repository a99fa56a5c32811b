"""Connection abuse against a real ``geokb serve`` process on 127.0.0.1, with short limits.

Idle sockets that never send, more connections than allowed, a request head sent a byte at a
time: the server keeps answering real queries, cuts what is too slow, and its log stays
small. Timing bounds are generous (the machine may be busy); what is checked is that things
happen, not how fast.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LARGE_ANSWER, MINI, unread_get, write_data

from kb.build.pipeline import compile_data
from kb.stores.local import write_build

BIN = Path(sys.executable).parent
ASK = {"query": "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"}
HEADER_TIMEOUT = 2.0
KEEPALIVE_TIMEOUT = 1.0
SEND_TIMEOUT = 1.5
BODY_TIMEOUT = 2.0
IDLE = 1500  # sockets that send nothing (the issue saw ~20,000 exhaust the descriptors)
SMALL_LIMIT = 20  # --max-connections of the second server
LOG_LIMIT = 20_000  # bytes of stderr after all of it


class Served:
    """``geokb serve`` as a subprocess on a free local port; its stderr goes to a file."""

    def __init__(self, store: Path, log: Path, *flags: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.log = log
        command = [str(BIN / "geokb"), "serve", "--store", str(store), "--port", str(self.port)]
        if "--max-client-connections" not in flags:  # the tests of totals come from one address
            flags = (*flags, "--max-client-connections", "100000")
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [*command, "--workers", "1", *flags],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 60
        while not self.answers():
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "geokb serve did not start"
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sparql"

    def answers(self) -> bool:
        """True if a query on a new connection gets its 200."""
        try:
            return httpx.get(self.url, params=ASK, timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def open_fds(self) -> int:
        """File descriptors the server process holds now."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def connect(self, source: str = "127.0.0.1") -> socket.socket:
        return socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(source, 0)
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def closed_by_peer(sock: socket.socket, wait_s: float) -> bool:
    """True if the server closes ``sock`` within ``wait_s`` (EOF or reset)."""
    sock.settimeout(wait_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_all_closed(socks: list[socket.socket], within_s: float) -> dict[socket.socket, float]:
    """When (monotonic) the server closed each socket; waits at most ``within_s``."""
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as sel:  # epoll: more than FD_SETSIZE sockets
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + within_s
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1)
                except ConnectionResetError:
                    data = b""
                assert data == b"", "the server sent something to a socket that sent nothing"
                closed[sock] = time.monotonic()
                sel.unregister(sock)
    return closed


def wait_until(condition: object, within_s: float) -> bool:
    """Polls ``condition()`` (a callable) until true or ``within_s`` passes."""
    assert callable(condition)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


@pytest.fixture(scope="module", autouse=True)
def enough_fds() -> None:
    """This test process holds 1,500+ sockets at once: its soft open-file limit must allow it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < IDLE + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft == resource.RLIM_INFINITY or soft >= IDLE + 500, "raise 'ulimit -Hn' to run"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("conn")
    write_build(root / "store", compile_data(write_data(root / "data", MINI)))
    return root / "store"


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[Served]:
    """Short header and keep-alive timeouts."""
    served = Served(
        store,
        store.parent / "server.log",
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--keepalive-timeout",
        str(KEEPALIVE_TIMEOUT),
        "--send-timeout",
        str(SEND_TIMEOUT),
        "--body-timeout",
        str(BODY_TIMEOUT),
    )
    yield served
    served.stop()


@pytest.fixture(scope="module")
def roomy(store: Path) -> Iterator[Served]:
    """Room for all the idle sockets, and a header timeout long enough that they stay."""
    served = Served(
        store,
        store.parent / "roomy.log",
        "--max-connections",
        str(IDLE + 500),
        "--header-timeout",
        "120",
    )
    yield served
    served.stop()


@pytest.fixture(scope="module")
def small(store: Path) -> Iterator[Served]:
    """At most SMALL_LIMIT connections; a long header timeout, so idle ones stay."""
    served = Served(
        store,
        store.parent / "small.log",
        "--max-connections",
        str(SMALL_LIMIT),
        "--header-timeout",
        "60",
    )
    yield served
    served.stop()


def test_idle_sockets_do_not_stop_queries(roomy: Served) -> None:
    before = roomy.open_fds()
    idle = [roomy.connect() for _ in range(IDLE)]
    try:
        # the server has accepted them all (one descriptor each) and holds them open...
        assert wait_until(lambda: roomy.open_fds() >= before + IDLE - 20, 30), roomy.open_fds()
        # ...and a real query on a new connection is still answered
        assert httpx.get(roomy.url, params=ASK, timeout=30).json()["boolean"] is True
        assert wait_all_closed(idle, 0.5) == {}, "while all of them were still open"
    finally:
        for s in idle:
            s.close()
    assert wait_until(lambda: roomy.open_fds() <= before + 5, 20), "and it let go of them"


def test_idle_sockets_are_closed_after_the_header_timeout(server: Served) -> None:
    before = server.open_fds()
    opened = time.monotonic()
    idle = [server.connect() for _ in range(300)]
    try:
        closed = wait_all_closed(idle, HEADER_TIMEOUT + 20)
        assert len(closed) == len(idle), f"{len(idle) - len(closed)} still open"
        # none went early: each lived about the header timeout
        assert min(closed.values()) - opened >= HEADER_TIMEOUT * 0.8
        # and the server let go of their descriptors
        assert wait_until(lambda: server.open_fds() <= before + 5, 10), server.open_fds()
    finally:
        for s in idle:
            s.close()


def test_kept_alive_connection_is_closed_after_the_keepalive_timeout(server: Served) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.settimeout(10)
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(65536)
        head, body = response.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ")
        length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        while len(body) < length:  # the body may come in a later segment
            body += sock.recv(65536)
        t0 = time.monotonic()
        assert closed_by_peer(sock, KEEPALIVE_TIMEOUT + 15)
        assert time.monotonic() - t0 >= KEEPALIVE_TIMEOUT * 0.8


def test_connections_beyond_the_limit_are_closed_at_once(small: Served) -> None:
    time.sleep(0.5)  # the readiness check's connection is gone
    held = [small.connect() for _ in range(SMALL_LIMIT)]
    try:
        for s in held[:3]:
            assert not closed_by_peer(s, 0.3), "a connection within the limit stays open"
        extra = [small.connect() for _ in range(30)]
        t0 = time.monotonic()
        try:
            closed = wait_all_closed(extra, 10)
            assert len(closed) == len(extra), "each one past the limit is closed"
            assert max(closed.values()) - t0 < 5, "at once, not after a timeout"
        finally:
            for s in extra:
                s.close()
        assert not small.answers(), "a query past the limit is refused, not queued"
    finally:
        for s in held:
            s.close()
    # once the held ones go, the server serves again
    assert wait_until(small.answers, 15)


def test_request_head_sent_slowly_is_cut_at_the_header_timeout(server: Served) -> None:
    head = b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 500
    with server.connect() as sock:
        t0 = time.monotonic()
        assert slow_send_is_cut(sock, head), "the server waited for the whole head"
        assert HEADER_TIMEOUT * 0.8 <= time.monotonic() - t0 < HEADER_TIMEOUT + 15


def test_slow_second_request_on_a_kept_alive_connection_is_cut(server: Served) -> None:
    # after one answer the keep-alive clock stops at the first byte: the header clock starts
    with server.connect() as sock:
        sock.sendall(b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        t0 = time.monotonic()
        assert slow_send_is_cut(sock, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 500)
        assert HEADER_TIMEOUT * 0.8 <= time.monotonic() - t0 < HEADER_TIMEOUT + 15


POST_HEAD = (
    b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
    b"Accept: application/json\r\nContent-Length: %d\r\n\r\n"
)


def test_a_body_sent_a_byte_at_a_time_is_cut_at_the_body_timeout(server: Served) -> None:
    with server.connect() as sock:
        sock.sendall(POST_HEAD % 1000 + b"ASK {}")
        opened = time.monotonic()
        sock.settimeout(0.5)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while time.monotonic() - opened < BODY_TIMEOUT + 10:
                sock.sendall(b" ")  # the body's bytes keep coming, too slowly to end
                with contextlib.suppress(TimeoutError):
                    if sock.recv(1) == b"":
                        break
        lived = time.monotonic() - opened
        assert BODY_TIMEOUT * 0.8 <= lived < BODY_TIMEOUT + 10, lived


def test_a_body_that_arrives_in_time_is_answered(server: Served) -> None:
    body = b"ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"
    with server.connect() as sock:
        sock.sendall(POST_HEAD % len(body))
        for part in (body[:10], body[10:30], body[30:]):  # in pieces, within the timeout
            time.sleep(BODY_TIMEOUT / 5)
            sock.sendall(part)
        sock.settimeout(20)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_head_of_too_many_fields_is_refused_with_431(server: Served) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(150))  # small, but 150 of them
    with server.connect() as sock:
        sock.sendall(b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"more than 100 header fields" in answer
    assert server.answers()


def test_a_flood_of_header_bytes_is_cut_at_once(server: Served) -> None:
    # 64 KiB of fields is the most a head may carry; this sends MBs, fast: the connection is
    # closed as soon as the limit is passed, not at the header timeout
    with server.connect() as sock:
        sock.sendall(b"GET /sparql HTTP/1.1\r\nHost: x\r\n")
        opened = time.monotonic()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for _ in range(40):
                sock.sendall(b"X-Long: " + b"v" * 4000 + b"\r\n")
            answer = read_all(sock)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert time.monotonic() - opened < HEADER_TIMEOUT
    assert server.answers()


def test_a_url_longer_than_any_query_needs_is_refused(server: Served) -> None:
    # the server's --max-query-chars is 100,000: no query needs a URL of 2 MB
    with server.connect() as sock:
        opened = time.monotonic()
        answer = b""
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(b"GET /sparql?query=" + b"a" * 2_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_all(sock)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 414 "), answer[:200]
        assert time.monotonic() - opened < HEADER_TIMEOUT
    assert server.answers()


def test_a_url_past_what_the_parser_takes_gets_414_saying_to_post(server: Served) -> None:
    target = b"/sparql?query=ASK%7B%7D%23" + b"a" * (65_536 - 26)  # 65,536 bytes
    with server.connect() as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:100]
    assert b"send the query in a POST body" in answer
    one_less = httpx.get(server.url + "?query=ASK%7B%7D%23" + "a" * 60_000, timeout=20)
    assert one_less.status_code == 200, one_less.text


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("geokb.example", 200),
        ("geokb.example:8080", 200),
        ("[::1]:8000", 200),
        ("a" * 60_000, 400),  # it would be copied into every IRI of the service description
        ('x"><script>', 400),
        ("x y", 400),
    ],
)
def test_the_host_header_must_be_a_host(server: Served, host: str, status: int) -> None:
    with server.connect() as sock:
        head = f"GET /sparql HTTP/1.1\r\nHost: {host}\r\nAccept: text/turtle\r\n\r\n"
        sock.sendall(head.encode())
        sock.settimeout(20)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    if status == 400:
        assert b"Host header is not a host name" in answer


def test_a_url_with_too_many_parameters_is_refused_and_one_with_enough_answered(
    server: Served,
) -> None:
    # 255 parameters: the query and 254 named graphs, which the protocol allows
    graphs = "".join(f"&named-graph-uri=http%3A%2F%2Fe%2F{i}" for i in range(254))
    ok = httpx.get(f"{server.url}?query=ASK%7B%7D{graphs}", timeout=20)
    assert ok.status_code == 200, ok.text
    # (100,000 would hold the server's one thread ~0.1 s each): refused before they are parsed
    many = httpx.get(f"{server.url}?query=ASK%7B%7D" + "&a=b" * 300, timeout=20)
    assert many.status_code == 414
    assert "more than 256 parameters" in many.text


def test_a_form_with_too_many_fields_is_refused(server: Served) -> None:
    body = "query=ASK%7B%7D" + "&a=b" * 20_000
    answer = httpx.post(
        server.url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 400
    assert "more than 256 fields" in answer.text


PIPELINED = b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: x\r\nAccept: text/csv\r\n\r\n"


def test_pipelined_requests_are_answered_in_order(server: Served) -> None:
    with server.connect() as sock:
        sock.sendall(PIPELINED * 10)
        sock.settimeout(20)
        data = b""
        while data.count(b"HTTP/1.1 200 OK") < 10:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {data.count(b'HTTP/1.1 200 OK')} answers"
            data += chunk


def test_a_flood_of_pipelined_requests_closes_the_connection(server: Served) -> None:
    # thousands of requests sent ahead of their answers, and none of the answers read
    answers = b""
    with server.connect() as sock, contextlib.suppress(ConnectionResetError, BrokenPipeError):
        for _ in range(50):
            sock.sendall(PIPELINED * 1000)
        answers = read_all(sock)
    # closed once more than 32 waited, not answered one after another until dropped
    assert answers.count(b"HTTP/1.1 200 OK") <= 33
    assert server.answers()


def slow_send_is_cut(sock: socket.socket, head: bytes) -> bool:
    """Sends ``head`` a byte every 0.1 s (never its end); True once the server closes."""
    deadline = time.monotonic() + HEADER_TIMEOUT + 20
    for i in range(len(head)):
        if time.monotonic() > deadline:
            return False
        try:
            sock.sendall(head[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return True
        if closed_by_peer(sock, 0.1):
            return True
    return False


def read_all(sock: socket.socket, pause_s: float = 0.0) -> bytes:
    """What the server sends until it closes (or resets) the connection; ``pause_s`` between
    reads of 64 KiB."""
    sock.settimeout(30)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            time.sleep(pause_s)
    except ConnectionResetError:
        pass
    return data


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of ``sock`` (tcp_info's first byte; 1 is ESTABLISHED)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(server: Served) -> None:
    sock = unread_get(server.port, LARGE_ANSWER + " # stalled")
    try:
        time.sleep(0.5)
        assert tcp_state(sock) == 1  # its answer waits for it
        opened = time.monotonic()
        # dropped (reset) soon after the send timeout: long before the query's own 30 s
        assert wait_until(lambda: tcp_state(sock) != 1, SEND_TIMEOUT + 8)
        assert time.monotonic() - opened < 10
        assert not read_all(sock).endswith(b"\r\n0\r\n\r\n")  # the answer never ended
    finally:
        sock.close()
    assert server.answers()


def test_a_client_that_takes_a_trickle_is_dropped_too(server: Served) -> None:
    # 512 bytes every 0.2 s: it reads, but far less than 16 KiB per send timeout
    sock = unread_get(server.port, LARGE_ANSWER + " # trickle")
    try:
        sock.settimeout(5)
        opened = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            while time.monotonic() - opened < SEND_TIMEOUT * 3 + 8 and sock.recv(512):
                time.sleep(0.2)
        assert time.monotonic() - opened < SEND_TIMEOUT * 3 + 8, "never dropped"
    finally:
        sock.close()


def test_a_slow_but_steady_reader_gets_the_whole_answer(server: Served) -> None:
    # ~550 KB taken 4 KiB (its receive buffer) every 0.02 s: ~200 KB/s, longer than the send
    # timeout in all, and the server's buffer full all along
    with unread_get(server.port, LARGE_ANSWER + " LIMIT 5000") as sock:
        t0 = time.monotonic()
        data = read_all_kept_alive(sock, pause_s=0.02)
        assert time.monotonic() - t0 > SEND_TIMEOUT
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunked(body)
    assert body.count(b"x" * 100 + b"\r\n") == 5000  # every row


def dechunked(body: bytes) -> bytes:
    """The content of a chunked body."""
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return out
        out += rest[:n]
        body = rest[n + 2 :]


def read_all_kept_alive(sock: socket.socket, pause_s: float) -> bytes:
    """A whole response on a kept-alive connection (it ends with the last chunk, or at its
    Content-Length), with ``pause_s`` between reads."""
    sock.settimeout(30)
    data = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk, "closed before the answer ended"
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            if body.endswith(b"\r\n0\r\n\r\n"):
                return data
        elif b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                return data
        time.sleep(pause_s)


def test_server_log_stays_small(server: Served, roomy: Served, small: Served) -> None:
    # on top of whatever the tests above did: requests uvicorn rejects, each of which it
    # would log (600 lines of 41 bytes: over the limit if each were written), and a burst
    # past the connection limit
    for _ in range(600):
        with server.connect() as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")
            sock.settimeout(10)
            assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
    time.sleep(0.5)
    burst = [small.connect() for _ in range(SMALL_LIMIT + 300)]
    for s in burst:
        s.close()
    assert server.answers() and wait_until(small.answers, 15)
    for served in (server, roomy, small):
        size = served.log.stat().st_size
        assert size < LOG_LIMIT, served.log.read_text(errors="replace")[-3000:]


def test_one_address_cannot_take_every_connection(store: Path) -> None:
    served = Served(
        store, store.parent / "per-client.log", "--max-client-connections", "10",
        "--header-timeout", "60",
    )  # fmt: skip
    try:
        flood = [served.connect("127.0.0.2") for _ in range(30)]
        try:
            closed = wait_all_closed(flood, 5)
            assert len(closed) == 20, "the ten first stay, the twenty beyond are closed"
            # another address is served meanwhile
            transport = httpx.HTTPTransport(local_address="127.0.0.3")
            with httpx.Client(transport=transport, timeout=30) as client:
                assert client.get(served.url, params=ASK).json()["boolean"] is True
        finally:
            for s in flood:
                s.close()
    finally:
        served.stop()
