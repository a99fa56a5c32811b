"""What an operator can set when serving: limits and the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.stores.local import DEFAULT_STORE

if TYPE_CHECKING:  # 'geokb' reads the defaults below for its help: keep the import light
    from kb.stores.remote import RemoteStore


@dataclass(frozen=True)
class Settings:
    """Serving settings; every limit has a safe default."""

    store: Path = DEFAULT_STORE
    remote: RemoteStore | None = None  # serve a remote store instead of the embedded one
    timeout_s: float = 30.0  # run time of one query (or page), once a worker has it
    queue_timeout_s: float = 10.0  # how long a request may wait for a worker first
    max_rows: int = 50_000
    max_answer_mb: int = 64  # bytes of one answer; a longer one is cut and says so
    max_query_chars: int = 100_000
    workers: int = 3
    worker_memory_mb: int = 1024  # memory one query worker may use (RLIMIT_AS)
    heavy_after_s: float = 1.0  # a query running longer is heavy: its client is rationed
    cache_mb: int = 64  # memory for answers to repeated queries (0: keep none)
    max_connections: int = 4000  # open HTTP connections; more are closed at once
    max_client_connections: int = 64  # open connections from one client address
    header_timeout_s: float = 10.0  # time a client has to send its request's headers
    keepalive_timeout_s: float = 5.0  # idle time before a kept-alive connection is closed
