"""The HTTP server under ``geokb serve``: uvicorn (h11) with the limits a public endpoint needs.

uvicorn alone keeps a connection that never sends a request open for ever (its h11 protocol
has no header timeout) and accepts connections until the process runs out of file
descriptors; then every accept fails and is logged. Here:

* a connection that has not sent a complete request head within ``header_timeout_s`` of
  opening (or of its first byte after a kept-alive response) is closed;
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
import sys
import time
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

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


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection limit, a header timeout and a float keep-alive.

    The limits are class attributes: :func:`protocol_class` makes a subclass per server.
    """

    max_connections: ClassVar[int] = Settings.max_connections
    max_client_connections: ClassVar[int] = Settings.max_client_connections
    # open connections per client address, shared by the connections of one server
    per_client: ClassVar[dict[str, int]] = {}
    header_timeout_s: ClassVar[float] = Settings.header_timeout_s
    keepalive_timeout_s: ClassVar[float] = Settings.keepalive_timeout_s

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn types it as whole seconds, but only hands it to loop.call_later
        self.timeout_keep_alive = self.keepalive_timeout_s  # type: ignore[assignment]
        self.header_timer: asyncio.TimerHandle | None = None
        self.refused = False
        self.client_key = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Close the connection at once if the server is full, else start its header clock."""
        peer = transport.get_extra_info("peername")
        key = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if (
            len(self.connections) >= self.max_connections
            or self.per_client.get(key, 0) >= self.max_client_connections
        ):
            # Not added to the server's connections, not parsed, not logged: just gone. One
            # address cannot take every connection, so a flood from it locks out no one else.
            self.refused = True
            self.transport = transport
            transport.abort()
            return
        self.client_key = key
        self.per_client[key] = self.per_client.get(key, 0) + 1
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header clock; a refused connection has nothing else to undo."""
        self._stop_header_clock()
        if not self.refused:
            left = self.per_client.get(self.client_key, 1) - 1
            if left > 0:
                self.per_client[self.client_key] = left
            else:
                self.per_client.pop(self.client_key, None)
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does; the header clock runs until a whole request head is in."""
        if self.refused:
            return
        if self.conn.their_state is h11.IDLE:
            # The first bytes of the next request on a kept-alive connection: the clock starts
            # now (on a new connection it has run since the connection opened).
            self._start_header_clock()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_header_clock()  # the head is complete (or was refused with a 400)

    def _start_header_clock(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _stop_header_clock(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout(self) -> None:
        # Silent on purpose: one log line per slow client is what a flood of them exploits.
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(settings: Settings, max_connections: int) -> type[GuardedH11Protocol]:
    """The protocol class uvicorn makes for each connection, with these limits."""

    class Protocol(GuardedH11Protocol):
        pass

    Protocol.max_connections = max_connections
    Protocol.max_client_connections = settings.max_client_connections
    Protocol.per_client = {}
    Protocol.header_timeout_s = settings.header_timeout_s
    Protocol.keepalive_timeout_s = settings.keepalive_timeout_s
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
        log_level="warning",  # no line per request or connection
        access_log=False,
        lifespan="on",
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


def serve(app: ASGIApp, settings: Settings, host: str, port: int) -> None:
    """Serve ``app`` until interrupted, with the limits in ``settings``."""
    uvicorn.Server(make_config(app, settings, host, port)).run()
