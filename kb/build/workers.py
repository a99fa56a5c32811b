"""Run the per-file steps (``kb.build.per_file``) in forked worker processes, one per core.

Reading YAML into records and mapping them to RDF is Python work: about six seconds of one
core for a million triples. Each worker keeps the records of its share of the files
between the two rounds, so only problems, ids and N-Triples bytes cross the pipes.
Workers are forked (not spawned) so that they start in milliseconds with everything
imported; they only ever run the per-file steps and exit when the build is done.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Protocol

from kb.build.linking import IdIndex
from kb.build.per_file import FileGraph, FileRead, FileSteps
from kb.build.yamlfile import MAX_FILE_BYTES
from kb.cores import available_cores
from kb.errors import GeokbError


class WorkerError(GeokbError):
    """A build worker process died or failed (a bug, or the machine ran out of memory)."""


class Steps(Protocol):
    """Runs the two rounds of per-file steps, in this process or in workers."""

    def read(self, names: list[str]) -> Iterator[FileRead]: ...

    def finish(self, index: IdIndex, build: bool) -> Iterator[FileGraph]: ...

    def close(self) -> None: ...


class InProcess(FileSteps):
    """The per-file steps in this process, one file after the other."""

    def close(self) -> None:
        self.records.clear()


#: Below this many bytes of YAML to read, forking workers costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


def per_file_steps(
    files: dict[str, Path], names: list[str], jobs: int | None, max_bytes: int = MAX_FILE_BYTES
) -> Steps:
    """Where to run the per-file steps for ``names``: ``jobs`` workers, or by default one
    per core when there is enough to read, else this process. Files over ``max_bytes``
    are refused unread."""
    if jobs is None:
        size = sum(_size(files[n]) for n in names)
        jobs = available_cores() if size >= PARALLEL_MIN_BYTES else 1
    jobs = min(jobs, len(names))
    return Forked(files, jobs, max_bytes) if jobs > 1 else InProcess(files, max_bytes)


class Forked:
    """The per-file steps in ``jobs`` forked processes; results come in as they are ready."""

    def __init__(self, files: dict[str, Path], jobs: int, max_bytes: int = MAX_FILE_BYTES) -> None:
        context = multiprocessing.get_context("fork")
        self.files = files
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for _ in range(jobs):
            mine, theirs = context.Pipe()
            proc = context.Process(target=_serve, args=(theirs, files, max_bytes), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)

    def read(self, names: list[str]) -> Iterator[FileRead]:
        """Round one, the files shared out by size so that the workers finish together."""
        shares: list[list[str]] = [[] for _ in self.conns]
        loads = [0] * len(self.conns)
        for name in sorted(names, key=lambda n: -_size(self.files[n])):
            least = loads.index(min(loads))
            shares[least].append(name)
            loads[least] += _size(self.files[name])
        busy = []
        for conn, share in zip(self.conns, shares, strict=True):
            if share:
                self._send(conn, ("read", sorted(share)))
                busy.append(conn)
        yield from self._gather(busy)  # type: ignore[misc]

    def finish(self, index: IdIndex, build: bool) -> Iterator[FileGraph]:
        """Round two in every worker, for the files it read."""
        for conn in self.conns:
            self._send(conn, ("finish", index, build))
        yield from self._gather(self.conns)  # type: ignore[misc]

    def _send(self, conn: Connection, command: tuple[object, ...]) -> None:
        try:
            conn.send(command)
        except OSError:  # the worker is gone
            raise WorkerError(self._death(conn)) from None

    def _gather(self, conns: list[Connection]) -> Iterator[object]:
        waiting = list(conns)
        while waiting:
            for conn in wait(waiting):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except EOFError:
                    raise WorkerError(self._death(conn)) from None
                if message is None:  # this worker is done with the round
                    waiting.remove(conn)
                elif isinstance(message, _Failure):
                    raise WorkerError(f"a build worker failed:\n{message.text}")
                else:
                    yield message

    def _death(self, conn: Connection) -> str:
        proc = self.procs[self.conns.index(conn)]
        proc.join(timeout=5)
        code = proc.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        return f"a build worker process died ({how}; out of memory, or stopped from outside)"

    def close(self) -> None:
        """Stop the workers."""
        for conn in self.conns:
            with contextlib.suppress(OSError):  # a worker that died has no pipe left
                conn.send(("stop",))
            conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()


class _Failure:
    def __init__(self, text: str) -> None:
        self.text = text


def _serve(conn: Connection, files: dict[str, Path], max_bytes: int) -> None:
    steps = FileSteps(files, max_bytes)
    try:
        while True:
            command, *args = conn.recv()
            if command == "read":
                for read in steps.read(*args):
                    conn.send(read)
            elif command == "finish":
                for graph in steps.finish(*args):
                    conn.send(graph)
            else:
                # Exit at once: freeing millions of records one by one would only make the
                # build wait, and a forked worker has nothing else to flush or finalise.
                conn.close()
                os._exit(0)
            conn.send(None)
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return  # the build was stopped
    except Exception:
        conn.send(_Failure(traceback.format_exc()))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
