"""Several server processes on one port, each client address always served by the same one.

One Python process answers HTTP on one core: at many connections the server's own thread is
what limits point lookups (``bench/serve.py``). ``geokb serve --processes N`` runs N of them on
the same port. Each opens its own socket with ``SO_REUSEPORT``, and a classic BPF program on
the group (``SO_ATTACH_REUSEPORT_CBPF``) picks the socket for each new connection from a hash
of the client's address (not of its port). So every connection of one client reaches the same
process, and what a process bounds per client (connections, heavy queries, the throttle after
killed workers, its fair turn at the workers) still bounds the client. The kernel runs the
program; no process sees another's connections.

Each process has its own query workers (``--workers`` is per process), answer cache and store
handle: memory grows with N (``bench/README.md``). What bounds the whole server is shared out
(:func:`serve_processes`): the connection cap divided, the heavy-query slots held in common.

The parent imports little, forks the N server processes, and only supervises: a process that
dies is started again on its own socket (the parent keeps every socket open, so a client's
connections keep reaching the same slot and queue there meanwhile), and a signal to stop is
passed on to all of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from kb.errors import GeokbError

if TYPE_CHECKING:  # (the supervisor imports little: api.app only in the server processes)
    from api.settings import Settings

SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>; Python's socket module lacks it
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)  # waits before restarting a process that keeps dying
STOP_GRACE_S = 10.0  # how long the processes get to finish before they are killed
POLL_S = 0.1  # how often the supervisor looks for a process that exited

# Classic BPF (<linux/filter.h>): the instructions the program below uses.
_LD_H_ABS, _LD_W_ABS = 0x28, 0x20
_ALU_XOR_X, _ALU_MOD_K = 0x0AC, 0x94
_JEQ_K, _JA = 0x15, 0x05
_TAX = 0x07
_RET_A, _RET_K = 0x16, 0x06
_SKF_AD_PROTOCOL = -0x1000  # SKF_AD_OFF + SKF_AD_PROTOCOL: the packet's ethertype
_SKF_NET_OFF = -0x100000  # offsets from the network (IP) header
_IPV4, _IPV6 = 0x0800, 0x86DD


class CannotListen(GeokbError):
    """The port cannot be listened on by several processes (in use, or the kernel refuses
    the reuseport program)."""


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def client_hash_program(n: int) -> bytes:
    """The instructions of a reuseport program choosing one of ``n`` sockets by the client's
    address (IPv4's 32 bits, or the two words of an IPv6 address's /64 XORed) modulo ``n``:
    neighbouring addresses go to different sockets, one client (``api.client_keys``: an
    IPv4 address, an IPv6 /64) always to the same."""
    # the IPv6 source address is bytes 8..24; its /64, a client's (api.client_keys), 8..16
    v6 = [_insn(_LD_W_ABS, _SKF_NET_OFF + 8)]
    v6 += [_insn(_TAX, 0), _insn(_LD_W_ABS, _SKF_NET_OFF + 12), _insn(_ALU_XOR_X, 0)]
    last = [_insn(_ALU_MOD_K, n), _insn(_RET_A, 0)]
    head = [
        _insn(_LD_H_ABS, _SKF_AD_PROTOCOL),
        # IPv4: on to its load; else past it (and past the jump over the IPv6 part)
        _insn(_JEQ_K, _IPV4, 0, 2),
        _insn(_LD_W_ABS, _SKF_NET_OFF + 12),  # the IPv4 source address
        _insn(_JA, len(v6) + 2),  # to the modulo, past the next two and the IPv6 part
        # neither: any socket (out of range: the kernel then picks by its own hash)
        _insn(_JEQ_K, _IPV6, 1, 0),
        _insn(_RET_K, 0xFFFFFFFF),
    ]
    return b"".join(head + v6 + last)


def _attach(sock: socket.socket, program: bytes) -> None:
    """Attach ``program`` to ``sock``'s reuseport group (``struct sock_fprog``)."""
    code = ctypes.create_string_buffer(program)
    fprog = struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def listening_sockets(host: str, port: int, n: int, backlog: int = 2048) -> list[socket.socket]:
    """``n`` sockets listening on ``host:port`` in one reuseport group; a client address is
    always given to the same one (its place in the list)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise CannotListen(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another "
                    "server on that port? (--port chooses another)"
                ) from None
            sock.listen(backlog)
        try:
            _attach(socks[0], client_hash_program(n))
        except OSError as exc:
            raise CannotListen(
                f"the kernel refused the program that keeps each client on one server "
                f"process ({exc.strerror or exc}); --processes needs Linux 4.6 or later: "
                "run without it"
            ) from None
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def serve_processes(socks: list[socket.socket], settings: Settings, host: str, port: int) -> int:
    """Serve the app on each of ``socks`` (from :func:`listening_sockets`) in its own process,
    supervised, until stopped; the exit status. What bounds the whole server is shared out:
    ``max_connections`` divided between them, heavy-query slots held in common
    (``api.heavy_slots``, in a folder removed at the end)."""
    slots = Path(tempfile.mkdtemp(prefix="geokb-heavy-"))
    each = dataclasses.replace(
        settings,
        max_connections=max(1, settings.max_connections // len(socks)),
        shared_heavy_slots=slots,
    )

    def serve_one(sock: socket.socket) -> None:
        from api.app import create_app
        from api.http_server import serve

        serve(create_app(each), each, host, port, sock)

    try:
        return Supervisor(socks, serve_one).run()
    finally:
        shutil.rmtree(slots, ignore_errors=True)


class Supervisor:
    """Runs ``serve(sock)`` in one forked process per socket until told to stop."""

    def __init__(
        self,
        socks: list[socket.socket],
        serve: Callable[[socket.socket], None],
        backoff: tuple[float, ...] = RESTART_BACKOFF_S,
        grace: float = STOP_GRACE_S,
    ) -> None:
        self.socks = socks
        self.serve = serve
        self.backoff = backoff  # the waits before each restart of a process that keeps dying
        self.grace = grace  # how long the processes get to stop before they are killed
        self.children: dict[int, int] = {}  # pid -> socket index
        self.deaths: dict[int, list[float]] = {}  # socket index -> recent unexpected exits
        self.stopping = False

    def run(self) -> int:
        """Start the processes, restart any that dies, and return once stopped (0), or 1 if
        they could not start at all."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for i in range(len(self.socks)):
                self._start(i)
            while self.children:
                if self.stopping:  # they get the grace time to finish, then are killed
                    self._reap()
                    break
                # Polled, not a blocking os.wait(): that is resumed after the stop signal's
                # handler (PEP 475) and would wait forever for a process ignoring the stop.
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if not pid:
                    time.sleep(POLL_S)
                    continue
                index = self.children.pop(pid, None)
                if index is None:
                    continue
                code = os.waitstatus_to_exitcode(status)
                if not self._restart(index, code):
                    self._stop(signal.SIGTERM, None)
                    self._reap()
                    return 1
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child: serve on its own socket, never return here
            code = 1
            try:
                _die_with_parent()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own
                for i, sock in enumerate(self.socks):
                    if i != index:
                        sock.close()
                self.serve(self.socks[index])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # the child's last word; then it is gone
                print(f"geokb: server process {index} failed: {exc}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = index

    def _restart(self, index: int, code: int) -> bool:
        """Start process ``index`` again after an unexpected exit; False if it died at once
        too often in a row (it could not start: the error is in its log)."""
        now = time.monotonic()
        recent = [t for t in self.deaths.get(index, []) if now - t < 60.0] + [now]
        self.deaths[index] = recent
        if len(recent) > len(self.backoff):
            print(
                f"geokb: server process {index} keeps exiting (last code {code}); stopping",
                file=sys.stderr,
            )
            return False
        print(f"geokb: server process {index} exited ({code}); starting it again", file=sys.stderr)
        time.sleep(self.backoff[len(recent) - 1])
        if not self.stopping:
            self._start(index)
        return True

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Pass a stop signal on to every process (once; they stop gracefully)."""
        if self.stopping:
            return
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap(self) -> None:
        """Wait for every process to exit; kill those still running after the grace time."""
        deadline = time.monotonic() + self.grace
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # none left (they were reaped already)
                return
            if pid:
                self.children.pop(pid, None)
                continue
            if time.monotonic() > deadline:
                for pid in self.children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


def _die_with_parent() -> None:
    """Ask the kernel to stop this process if the supervisor dies (Linux's
    ``PR_SET_PDEATHSIG``), so no server is left holding the port without it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)
