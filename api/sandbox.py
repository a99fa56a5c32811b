"""Operating-system limits for a query worker process: no network, bounded memory, and death
with the server.

pyoxigraph fetches ``SERVICE <url>`` clauses over HTTP by itself. geokb refuses such queries
before they reach a worker, but if a parser miss ever let one through, the worker would make
requests on an attacker's behalf (SSRF). :func:`enter`, called first thing in a freshly
spawned worker, makes that impossible whatever the query says:

* **No network** -- a seccomp-BPF filter makes ``socket()`` and ``socketpair()`` fail with
  ``EACCES`` for every address family except ``AF_UNIX`` (the pipe to the server is an
  ``AF_UNIX`` socketpair and keeps working), and ``io_uring_setup`` too (io_uring can open
  sockets without the ``socket`` system call). Without a socket there is nothing to
  ``connect()``, ``sendto()`` or ``bind()``; a spawned worker inherits no socket but its pipe.
  The filter checks the architecture field: a system call made through another ABI
  (i386 ``int 0x80``, whose ``socketcall`` would bypass the check, or x32 on x86_64) is
  denied. The filter cannot be removed, is inherited by any child, and applies to every
  thread (``SECCOMP_FILTER_FLAG_TSYNC``), so threads a library started earlier are covered.
* **Memory** -- ``RLIMIT_DATA`` of ``memory_mb`` (see below why not ``RLIMIT_AS``). An
  allocation past it fails: Python raises ``MemoryError``; Rust (pyoxigraph) aborts the
  process, which the pool sees as a dead worker and replaces.
* **Death with the server** -- ``PR_SET_PDEATHSIG`` = ``SIGKILL``, so a worker does not
  outlive a server killed with ``SIGKILL`` (no clean-up runs then). Caveat: Linux sends the
  signal when the *thread* that forked the worker exits, not only the process. A worker must
  therefore be started from a thread that lives as long as the server (the event loop's
  thread, or a dedicated ``ThreadPoolExecutor`` thread, which never retires), not from a
  pool that retires idle threads (anyio's worker threads exit after 10 s idle, which would
  kill the worker then). ``tests/test_sandbox.py`` shows this.

Why seccomp rather than a network namespace: ``unshare(CLONE_NEWNET)`` needs
``CAP_SYS_ADMIN``. Measured here: it works as root, fails with ``EPERM`` as an unprivileged
user, and works unprivileged only together with ``CLONE_NEWUSER``, which many hosts forbid
(Docker's default seccomp profile blocks ``unshare``; Ubuntu 24.04's AppArmor restricts
unprivileged user namespaces; some kernels set ``kernel.unprivileged_userns_clone=0``).
seccomp filters need no privilege (only ``PR_SET_NO_NEW_PRIVS``), work inside containers, and
exist since Linux 3.17. Measured here (Linux 6.18, x86_64, 2 shared cores): :func:`enter`
takes 0.2-1 ms, most of it the filter's install and the self-check that an ``AF_INET``
socket is refused; ``os.getppid()`` went from 230 to 260 ns a call (a dozen BPF instructions
per system call), ``socketpair()`` + 2 ``close()`` stayed at 12 us: negligible next to a query.

Why ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: ``RLIMIT_AS`` counts address space that is
reserved but never used -- 8 MiB of stack per thread, 64 MiB per glibc malloc arena
(``PROT_NONE`` reservations), RocksDB's mappings. Measured in a spawned worker with a
read-only store open, after normal queries (COUNT, GROUP BY, ORDER BY over all triples):

=====================  =========  ==========  =========  ============================
store                  VmSize     VmPeak      VmData     resident (VmHWM)
=====================  =========  ==========  =========  ============================
real data, 3.6k        440 MB     530 MB      85 MB      34 MB
synthetic, 287k        453 MB     530 MB      163 MB     107 MB
=====================  =========  ==========  =========  ============================

Under ``RLIMIT_AS`` = 256 MB (real data) or 512 MB (287k triples) RocksDB cannot start its
threads (``std::system_error``, abort) before any query runs; at 1024 MB it works, but half
the budget is reservations, and they grow with threads and cores, not with the query.
``RLIMIT_DATA`` (Linux >= 4.7) counts only private writable memory -- heap, anonymous
``mmap`` (where large allocations go), thread stacks -- which is what a query makes grow; both
stores work under 256 MB of it. The query doubling a 16-byte string 24 times (256 MiB, and
copies: 820 MB resident, 1.2 GB address space unlimited) dies at once (Rust allocation failure,
``SIGABRT``) under ``RLIMIT_DATA`` = 256 MB; under 1024 MB it completes (820 MB is within the
limit) and with 25 doublings it dies. Under ``RLIMIT_AS`` = 1024 MB even 24 doublings die,
because the reservations leave only about 500 MB. So ``memory_mb`` here means what it says:
the memory a worker may really use.

Why ctypes: the seccomp packages on PyPI are either bindings to the libseccomp C library,
which must then be on every host (``pyseccomp``: last release 2021; ``mephi42-seccomp``), or
young whole-process sandbox frameworks. The filter here is a dozen instructions, checked
against real sockets and a real pyoxigraph ``SERVICE`` call in ``tests/test_sandbox.py``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
import socket
import struct
from dataclasses import dataclass

from kb.errors import GeokbError


class SandboxError(GeokbError):
    """The worker sandbox could not be installed: the worker must not run without it."""


# prctl(2) options and seccomp(2) constants, from <linux/prctl.h> and <linux/seccomp.h>.
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

# Classic BPF opcodes (<linux/filter.h>): load a 32-bit word of seccomp_data, compare the
# accumulator with a constant, return.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06

# Offsets in struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
# Both supported architectures are little-endian, so args[0]'s low 32 bits are at 16.
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16

AF_UNIX = 1
X32_SYSCALL_BIT = 0x40000000


@dataclass(frozen=True)
class _Arch:
    audit_arch: int  # AUDIT_ARCH_* (<linux/audit.h>)
    seccomp: int  # system call numbers, from the kernel's tables for this architecture
    socket: int
    socketpair: int
    io_uring_setup: int
    x32_bit: bool  # system calls with X32_SYSCALL_BIT set use another ABI: deny them


_ARCHES = {
    "x86_64": _Arch(
        0xC000003E, seccomp=317, socket=41, socketpair=53, io_uring_setup=425, x32_bit=True
    ),
    "aarch64": _Arch(
        0xC00000B7, seccomp=277, socket=198, socketpair=199, io_uring_setup=425, x32_bit=False
    ),
}


def _arch() -> _Arch:
    machine = platform.machine()
    arch = _ARCHES.get(machine)
    if arch is None or ctypes.sizeof(ctypes.c_void_p) != 8:
        raise SandboxError(
            f"no seccomp filter for this machine ({machine}, "
            f"{8 * ctypes.sizeof(ctypes.c_void_p)}-bit Python): supported are "
            + ", ".join(f"64-bit {name}" for name in _ARCHES)
        )
    return arch


_Ins = tuple[int, "int | str", "int | str", int]  # code, jump if true, if false, k


def _program(arch: _Arch) -> list[tuple[int, int, int, int]]:
    """The filter as classic BPF (code, jump-if-true, jump-if-false, k) instructions.

    Jump targets are written as labels and resolved here to the offsets BPF wants (relative
    to the next instruction).
    """
    deny = SECCOMP_RET_ERRNO | errno.EACCES
    body: list[_Ins] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 0, "deny", arch.audit_arch),  # another ABI (i386 int 0x80): deny
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if arch.x32_bit:
        body.append((_JGE_K, "deny", 0, X32_SYSCALL_BIT))
    body += [
        (_JEQ_K, "deny", 0, arch.io_uring_setup),
        (_JEQ_K, "family", 0, arch.socket),
        (_JEQ_K, "family", 0, arch.socketpair),
        (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        # family: socket()'s and socketpair()'s first argument is the address family
        (_LD_W_ABS, 0, 0, _OFF_ARG0_LOW),
        (_JEQ_K, 0, "deny", AF_UNIX),
        (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (_RET_K, 0, 0, deny),
    ]
    n = len(body)
    labels = {"family": n - 4, "deny": n - 1}

    def target(i: int, jump: int | str) -> int:
        return jump if isinstance(jump, int) else labels[jump] - i - 1

    return [(code, target(i, jt), target(i, jf), k) for i, (code, jt, jf, k) in enumerate(body)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what} failed: {os.strerror(err) if err else result}")


def _prctl(option: int, arg: int) -> int:
    ulong = ctypes.c_ulong
    return int(_LIBC.prctl(ctypes.c_int(option), ulong(arg), ulong(0), ulong(0), ulong(0)))


def install_network_filter() -> None:
    """Install the seccomp filter: no socket but AF_UNIX, no io_uring, in every thread of
    this process and its future children, for good. Raise SandboxError if it cannot."""
    arch = _arch()
    program = _program(arch)
    code = b"".join(struct.pack("=HBBI", *ins) for ins in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    # Required to install a filter without CAP_SYS_ADMIN; also stops setuid gains.
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")
    result = _LIBC.syscall(
        ctypes.c_long(arch.seccomp),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(fprog),
    )
    # With TSYNC a positive result is the id of a thread that could not be synchronised.
    _check(int(result), "seccomp(SECCOMP_SET_MODE_FILTER)")
    # Fail closed if the filter is not in force (an emulating kernel might accept and ignore it).
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return
    raise SandboxError("the seccomp filter was installed but an AF_INET socket still opens")


def limit_memory(memory_mb: int) -> None:
    """Limit this process's private writable memory (RLIMIT_DATA) to ``memory_mb`` MiB."""
    if memory_mb <= 0:
        raise SandboxError(f"a worker's memory limit must be positive, not {memory_mb} MB")
    limit = memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)  # raising a hard limit needs privilege: keep the lower one
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (OSError, ValueError) as exc:
        raise SandboxError(f"setrlimit(RLIMIT_DATA, {memory_mb} MB) failed: {exc}") from exc


def enter(parent_pid: int, memory_mb: int) -> None:
    """Sandbox this freshly spawned worker process: die with ``parent_pid`` (the server),
    keep private memory under ``memory_mb`` MiB, open no network socket.

    Call it before anything else in the worker. Exits at once if the server is already
    gone; raises SandboxError if any part cannot be installed.
    """
    if parent_pid <= 0:
        raise SandboxError(f"a worker needs its server's pid to die with it, not {parent_pid}")
    _check(_prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl(PR_SET_PDEATHSIG)")
    # The server may have died before the line above: then no signal will ever come.
    if os.getppid() != parent_pid:
        os._exit(0)
    limit_memory(memory_mb)
    install_network_filter()
