"""The HTTP server under ``geokb serve``: uvicorn with the limits a public endpoint needs.

``geokb serve`` runs uvicorn on uvloop with the httptools parser (C: what they save per
request is most of what uvicorn costs with asyncio and h11). uvicorn alone keeps a connection
that never sends a request open for ever (its protocols have no header timeout) and accepts
connections until the process runs out of file descriptors; then every accept fails and is
logged. Here:

* a connection that has not sent a complete request head within ``header_timeout_s`` of
  opening (or of its first byte after a kept-alive response) is closed;
* a request's body (a POST's) must be complete within ``body_timeout_s`` of its head, or the
  connection is closed: a body sent a byte at a time holds no connection for long;
* a request head of more than ``MAX_HEADER_FIELDS`` fields or ``MAX_HEADER_BYTES`` bytes of
  them gets 431, a URL longer than a query of ``max_query_chars`` characters can need (at
  most ``PARSABLE_URL_BYTES``), or with more than ``MAX_URL_PARAMS`` parameters, gets 414,
  and the connection is closed: uvicorn keeps every field in a list (~50 MB/s of tiny
  fields within the header timeout grew the server by 2.3 GB), and the server's one thread
  parses a URL's parameters (100,000 of them took it 114 ms, in which nobody else was
  answered);
* at most ``MAX_PIPELINED`` requests wait behind the one being answered on a connection
  (more, sent ahead of their answers, close it), and the socket is read again only when
  they are fewer: uvicorn parses all it reads and, once one answer is done, reads on, so
  a flood of pipelined requests grew the server by 760 MB in 8 s;
* a connection whose client, while the server's write buffer is full, takes less than
  ``MIN_TAKEN_BYTES`` of the answer in ``send_timeout_s`` is dropped with what it held: a
  client that stops reading holds no memory for long (and a stalled answer from a worker
  ends at the query's deadline: ``executor``);
* beyond ``max_connections`` open connections, a new one is closed as soon as it is accepted
  (before any parsing, so a flood of them costs little), and so is one beyond
  ``max_client_connections`` from one client address;
* the soft ``RLIMIT_NOFILE`` is raised to the hard limit, and ``max_connections`` is lowered
  if it would not leave room for the store, worker pipes and logs;
* a message logged again and again (a failing accept, invalid requests) is written at most
  once every few seconds, with the count of the ones left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import struct
import sys
import time
from typing import Any, ClassVar, NoReturn, cast

import httptools  # noqa: F401  (the parser under GuardedHttpToolsProtocol: a dependency)
import uvicorn
import uvloop
from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from api.client_keys import client_key
from api.processes import STOP_GRACE_S
from api.settings import Settings

# Descriptors kept free for everything that is not a client connection: the store's files,
# the pipes to query workers, logs, the listening socket, imports.
SPARE_FDS = 256
LOG_EVERY_S = 5.0  # a repeated log message is written at most this often
QUIET_LOGGERS = ("uvicorn", "uvicorn.error", "asyncio")


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)  # the kernel's nr_open caps it; 2**20 is its usual value
    if soft != resource.RLIM_INFINITY and soft < hard:
        # (it can fail, e.g. above the kernel's nr_open: then keep what there is)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return sys.maxsize if soft == resource.RLIM_INFINITY else soft


def connection_limit(settings: Settings, fd_limit: int) -> int:
    """``settings.max_connections``, lowered to leave ``SPARE_FDS`` below ``fd_limit``."""
    return max(1, min(settings.max_connections, fd_limit - SPARE_FDS))


class Limits:
    """The connection limits of one server, and its open connections per client address."""

    def __init__(
        self,
        max_connections: int = Settings.max_connections,
        max_client_connections: int = Settings.max_client_connections,
        header_timeout_s: float = Settings.header_timeout_s,
        keepalive_timeout_s: float = Settings.keepalive_timeout_s,
        send_timeout_s: float = Settings.send_timeout_s,
        body_timeout_s: float = Settings.body_timeout_s,
        max_query_chars: int = Settings.max_query_chars,
    ) -> None:
        self.max_connections = max_connections
        self.max_client_connections = max_client_connections
        self.header_timeout_s = header_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.send_timeout_s = send_timeout_s
        self.body_timeout_s = body_timeout_s
        self.max_url_bytes = max_url_bytes(max_query_chars)
        self.per_client: dict[str, int] = {}

    def admit(self, open_now: int, transport: asyncio.Transport) -> str | None:
        """The client's key if a new connection may stay; else None, and it is closed."""
        peer = transport.get_extra_info("peername")
        key = client_key(str(peer[0])) if isinstance(peer, tuple) and peer else ""
        if (
            open_now >= self.max_connections
            or self.per_client.get(key, 0) >= self.max_client_connections
        ):
            # Not added to the server's connections, not parsed, not logged: just gone. One
            # address cannot take every connection, so a flood from it locks out no one else.
            transport.abort()
            return None
        self.per_client[key] = self.per_client.get(key, 0) + 1
        return key

    def release(self, key: str) -> None:
        """A connection admitted for ``key`` closed."""
        left = self.per_client.get(key, 1) - 1
        if left > 0:
            self.per_client[key] = left
        else:
            self.per_client.pop(key, None)


MAX_PIPELINED = 32  # requests waiting behind the one being answered, on one connection
MAX_HEADER_FIELDS = 100  # as Apache's LimitRequestFields
MAX_URL_PARAMS = 256  # parameters in a URL ('&'-separated; a query's own '&' is %26)
MAX_HOST_BYTES = 255  # a DNS name's most, with room for a port
# What a Host may hold: a name, an IPv4 address or a bracketed IPv6 one, and a port. The
# answers put it in IRIs (relative IRIs resolve against it; the service description names
# the endpoint by it), so nothing there may need escaping in any format.
_HOST_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]"
MAX_HEADER_BYTES = 64 * 1024  # all fields' names and values together


#: The longest request target httptools can parse (its URL parser keeps 16-bit offsets);
#: past it uvicorn answers a bare 400, so geokb refuses first, saying to use POST.
PARSABLE_URL_BYTES = 65_535


def max_url_bytes(max_query_chars: int) -> int:
    """The longest request target taken: what a query of ``max_query_chars`` characters can
    need (each percent-encoded UTF-8, at most 12 characters, and room for the other
    parameters), and no more than httptools can parse."""
    return min(12 * max_query_chars + 8 * 1024, PARSABLE_URL_BYTES)


class RequestRefused(Exception):
    """A request refused while it is parsed (an answer with ``status`` was sent, or the
    connection reset): raised from a parser callback to stop the parsing."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class HeaderClock:
    """Closes a connection whose request head is not complete in time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        self.timer: asyncio.TimerHandle | None = None

    def start(self, transport: asyncio.Transport) -> None:
        """Start the clock unless it runs."""
        if self.timer is None:
            self.timer = self.loop.call_later(self.timeout_s, self._expired, transport)

    def stop(self) -> None:
        """Stop it (the head is complete, or the connection closed)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self, transport: asyncio.Transport) -> None:
        # Silent on purpose: one log line per slow client is what a flood of them exploits.
        self.timer = None
        if not transport.is_closing():
            transport.close()


#: Bytes of an answer a client must take in each ``send_timeout_s`` while the server's write
#: buffer is full, or be dropped: a client that reads a byte now and then is not reading.
MIN_TAKEN_BYTES = 16 * 1024


class SendClock(HeaderClock):
    """Drops a connection whose client takes too little of an answer in time: less than
    MIN_TAKEN_BYTES in each ``timeout_s`` while the write buffer is full."""

    left = 0  # the buffer's size when the clock last started

    def start(self, transport: asyncio.Transport) -> None:
        """Start the clock (the buffer is full) unless it runs."""
        if self.timer is None:
            self.left = transport.get_write_buffer_size()
        super().start(transport)

    def _expired(self, transport: asyncio.Transport) -> None:
        self.timer = None
        left = transport.get_write_buffer_size()
        if self.left - left >= MIN_TAKEN_BYTES:  # slow, but taking it: another period
            self.start(transport)
            return
        # Reset, not closed: a close waits to send what the client won't take, and the kernel
        # would keep the socket and its send buffer (MBs) orphaned until its retries end.
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class _Guards:
    """What the guarded protocol adds to uvicorn's: a connection limit (refused connections
    are closed at once and never parsed), a header clock and a float keep-alive.

    Mixed in before the uvicorn protocol class; the limits are a class attribute:
    :func:`protocol_class` makes a subclass per server.
    """

    limits: ClassVar[Limits] = Limits()
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    transport: asyncio.Transport
    timeout_keep_alive: int  # as uvicorn types it

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        # uvicorn types it as whole seconds, but only hands it to loop.call_later
        self.timeout_keep_alive = self.limits.keepalive_timeout_s  # type: ignore[assignment]
        self.clock = HeaderClock(self.loop, self.limits.header_timeout_s)
        self.send_clock = SendClock(self.loop, self.limits.send_timeout_s)
        self.body_clock = HeaderClock(self.loop, self.limits.body_timeout_s)
        self.client_key: str | None = None

    def _wrap(self, transport: asyncio.Transport) -> asyncio.Transport:
        """The transport the uvicorn protocol writes to."""
        return transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Close the connection at once if the server is full, else start its header clock."""
        transport = cast(asyncio.Transport, transport)  # a socket's: uvloop's or asyncio's
        self.client_key = self.limits.admit(len(self.connections), transport)
        if self.client_key is None:
            self.transport = transport
            return
        super().connection_made(self._wrap(transport))  # type: ignore[misc]
        self.clock.start(transport)

    def pause_writing(self) -> None:
        """The write buffer is over its high-water mark: the client has this long to take
        enough of it."""
        self.send_clock.start(self.transport)
        super().pause_writing()  # type: ignore[misc]

    def resume_writing(self) -> None:
        """The buffer is back under its low-water mark: the client is reading."""
        self.send_clock.stop()
        super().resume_writing()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clocks; a refused connection has nothing else to undo."""
        self.clock.stop()
        self.send_clock.stop()
        self.body_clock.stop()
        if self.client_key is not None:
            self.limits.release(self.client_key)
            super().connection_lost(exc)  # type: ignore[misc]


class CoalescingTransport:
    """A transport whose writes in one turn of the event loop go out in one system call.

    uvicorn writes a response's head and its body separately; on a socket each write is a
    system call and a TCP segment, and the client wakes for each. Held until the end of the
    loop's turn, they leave together. Everything else is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Hold ``data`` until the end of this turn of the event loop."""
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close."""
        self._flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        """Bytes held here and in the transport's buffer."""
        return sum(map(len, self._held)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(_Guards, HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection limit, a header timeout and a float
    keep-alive, its responses' head and body leaving in one write."""

    def _wrap(self, transport: asyncio.Transport) -> asyncio.Transport:
        return CoalescingTransport(transport, self.loop)  # type: ignore[return-value]

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does; refused connections are not parsed."""
        if self.client_key is not None:
            super().data_received(data)

    def on_message_begin(self) -> None:
        """The first byte of a request: its head must be complete within the timeout (on a
        new connection the clock has run since the connection opened)."""
        self.clock.start(self.transport)
        self.head_fields = 0
        self.head_bytes = 0
        self.url_separators = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        """Part of the request target: refused past the longest a query can need."""
        if len(self.url) + len(url) > self.limits.max_url_bytes:
            self._refuse(414, f"the URL is longer than {self.limits.max_url_bytes:,} bytes")
        self.url_separators += url.count(b"&")
        if self.url_separators >= MAX_URL_PARAMS:
            self._refuse(414, f"the URL has more than {MAX_URL_PARAMS} parameters")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header field: refused past the limits on their number and bytes."""
        self.head_fields += 1
        self.head_bytes += len(name) + len(value)
        if name.lower() == b"host" and (
            len(value) > MAX_HOST_BYTES or value.translate(None, _HOST_BYTES)
        ):
            self._refuse(400, "the Host header is not a host name or address (and port)")
        if self.head_fields > MAX_HEADER_FIELDS:
            self._refuse(431, f"the request has more than {MAX_HEADER_FIELDS} header fields")
        if self.head_bytes > MAX_HEADER_BYTES:
            self._refuse(431, f"the request's header fields exceed {MAX_HEADER_BYTES:,} bytes")
        super().on_header(name, value)

    def _refuse(self, status: int, reason: str) -> NoReturn:
        """Answer ``status`` saying why, close, and stop parsing (the parser's callback
        error reaches uvicorn, whose own 400 then finds the connection closing)."""
        self.clock.stop()
        hint = "; send the query in a POST body" if status == 414 else ""
        body = f"{reason}{hint}\n".encode()
        title = {
            400: b"Bad Request",
            414: b"URI Too Long",
            431: b"Request Header Fields Too Large",
        }[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, title, len(body), body)
        )
        self.transport.close()
        raise RequestRefused(status, reason)

    def on_headers_complete(self) -> None:
        """The head is complete: its clock stops, and a body's starts (not for a GET's
        or a HEAD's: they have none, and their path stays free of a timer)."""
        self.clock.stop()
        if self.parser.get_method() not in (b"GET", b"HEAD"):
            self.body_clock.start(self.transport)
        super().on_headers_complete()
        if len(self.pipeline) > MAX_PIPELINED:  # requests sent far ahead of their answers
            self.transport.abort()
            raise RequestRefused(429, f"more than {MAX_PIPELINED} pipelined requests")

    def on_response_complete(self) -> None:
        """An answer is done: uvicorn reads on, unless many requests still wait."""
        super().on_response_complete()
        if len(self.pipeline) > MAX_PIPELINED // 2:
            self.flow.pause_reading()  # resumed by a later answer, once they are fewer

    def on_message_complete(self) -> None:
        """The request is all in: its body's clock stops."""
        self.body_clock.stop()
        super().on_message_complete()


def protocol_class(settings: Settings, max_connections: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn makes for each connection, with these limits."""

    class Protocol(GuardedHttpToolsProtocol):
        limits = Limits(
            max_connections,
            settings.max_client_connections,
            settings.header_timeout_s,
            settings.keepalive_timeout_s,
            settings.send_timeout_s,
            settings.body_timeout_s,
            settings.max_query_chars,
        )

    return Protocol


class RepeatFilter(logging.Filter):
    """Lets a message through at most once per ``every_s`` seconds, keyed by its first line.

    The next one that passes says how many were left out. (Tracebacks and socket details
    differ between repeats; the first line of the message template does not.)
    """

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        super().__init__()
        self.every_s = every_s
        self.last: dict[tuple[str, str], float] = {}
        self.dropped: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True if the record is to be written."""
        key = (record.name, str(record.msg).split("\n", 1)[0][:200])
        now = time.monotonic()
        if now - self.last.get(key, -self.every_s) < self.every_s:
            self.dropped[key] = self.dropped.get(key, 0) + 1
            return False
        self.last[key] = now
        dropped = self.dropped.pop(key, 0)
        if dropped:
            record.msg = f"{record.getMessage()} ({dropped} more like it not logged)"
            record.args = None
        if len(self.last) > 1000:  # messages that vary in their first line: forget the old
            self.last.clear()
        return True


def quiet_logs() -> None:
    """Rate-limit the loggers that can write one line per connection or per failed accept."""
    repeat = RepeatFilter()
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(repeat)


def make_config(app: ASGIApp, settings: Settings, host: str, port: int) -> Config:
    """The uvicorn configuration of ``geokb serve`` (raises the open-file limit first)."""
    fd_limit = raise_fd_limit()
    limit = connection_limit(settings, fd_limit)
    config = Config(
        app,
        host=host,
        port=port,
        http=protocol_class(settings, limit),
        loop=uvloop.__name__,  # uvicorn's own uvloop set-up
        log_level="warning",  # no line per request or connection
        access_log=False,
        lifespan="on",
        # on SIGTERM, answers still being sent get as long as the supervisor of several
        # processes gives them (a slow reader of a large one could take minutes), then are cut
        timeout_graceful_shutdown=int(STOP_GRACE_S),
    )
    quiet_logs()  # after Config, which (re)configures uvicorn's loggers
    if limit < settings.max_connections:
        logging.getLogger("uvicorn.error").warning(
            "at most %d connections (not %d): the open-file limit is %d",
            limit,
            settings.max_connections,
            fd_limit,
        )
    return config


def serve(
    app: ASGIApp, settings: Settings, host: str, port: int, sock: socket.socket | None = None
) -> None:
    """Serve ``app`` until interrupted, with the limits in ``settings``; on ``sock`` if given
    (one of ``api.processes``' sockets), else on a socket of its own bound to host:port."""
    server = uvicorn.Server(make_config(app, settings, host, port))
    server.run(sockets=None if sock is None else [sock])
