"""What an operator can set when serving: limits and the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kb.remote import RemoteStore
from kb.store import DEFAULT_STORE


@dataclass(frozen=True)
class Settings:
    """Serving settings; every limit has a safe default."""

    store: Path = DEFAULT_STORE
    remote: RemoteStore | None = None  # serve a remote store instead of the embedded one
    timeout_s: float = 30.0
    max_rows: int = 50_000
    max_query_chars: int = 100_000
    workers: int = 3
    cache_mb: int = 64  # memory for answers to repeated queries (0: keep none)
