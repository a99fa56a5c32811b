"""What an operator can set when serving: one table of settings.

Each setting has a name (a field of :class:`Settings`), a ``geokb serve`` flag, an
environment variable (``GEOKB_`` + the flag's name), a default (the field's) and a line of
help. The CLI builds its flags from :data:`TABLE`, reads the environment through it, and the
generated CLI reference (``docs/cli.md``) shows every row; ``tests/test_settings.py`` checks
that every field has a row and that every row is documented. Limits travel from here with
each job to the query workers: no worker reads a module default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import GeokbError
from kb.stores.current import DEFAULT_STORE

if TYPE_CHECKING:  # 'geokb' reads the defaults below for its help: keep the import light
    from kb.stores.remote import RemoteStore


@dataclass(frozen=True)
class Settings:
    """Serving settings; every limit has a safe default (see :data:`TABLE` for each)."""

    store: Path = DEFAULT_STORE
    remote: RemoteStore | None = None  # serve a remote store instead of the embedded one
    timeout_s: float = 30.0
    queue_timeout_s: float = 10.0
    max_rows: int = 50_000
    max_answer_mb: int = 64
    max_query_chars: int = 100_000
    workers: int = 0  # 0: one per core this process may run on
    processes: int = 1  # server processes on the port (api.processes)
    worker_memory_mb: int = 1024
    heavy_after_s: float = 1.0
    cache_mb: int = 64
    cache_max_age_s: int = 60
    max_connections: int = 4000
    max_client_connections: int = 64
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 5.0
    send_timeout_s: float = 30.0
    body_timeout_s: float = 20.0
    # set by the supervisor of 'geokb serve --processes' (not a flag): the folder of the
    # heavy-query slots its server processes share (api.heavy_slots)
    shared_heavy_slots: Path | None = None

    def query_workers(self) -> int:
        """The number of query worker processes: ``workers``, or one per usable core."""
        return self.workers or cores()


def cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity on this system
        return max(1, os.cpu_count() or 1)


def seconds(text: str) -> float:
    """A number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ValueError(f"'{text}' is not a number of seconds above 0")
    return value


def positive(text: str) -> int:
    """A whole number of 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"'{text}' is not a whole number of 1 or more")
    return int(text)


def whole(text: str) -> int:
    """A whole number of 0 or more."""
    if not text.isdigit():
        raise ValueError(f"'{text}' is not a whole number of 0 or more")
    return int(text)


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str  # the field of Settings
    flag: str  # the 'geokb serve' flag
    parse: Callable[[str], object]
    help: str

    @property
    def env(self) -> str:
        """The environment variable that sets it when the flag is not given."""
        return "GEOKB_" + self.flag[2:].upper().replace("-", "_")

    @property
    def default(self) -> object:
        """The default: the Settings field's."""
        return _DEFAULTS[self.name]


_DEFAULTS = {f.name: f.default for f in fields(Settings)}

TABLE: tuple[Setting, ...] = (
    Setting("timeout_s", "--timeout", seconds, "seconds a query (or page) may run once started"),
    Setting("queue_timeout_s", "--queue-timeout", seconds, "seconds a query may wait for a worker"),
    Setting(
        "heavy_after_s",
        "--heavy-after",
        seconds,
        "a query running longer is heavy: its client's next queries are rationed",
    ),
    Setting(
        "max_rows", "--max-rows", positive, "rows (or triples) an answer holds before it is cut"
    ),
    Setting("max_answer_mb", "--max-answer-mb", positive, "MB an answer may take before it is cut"),
    Setting(
        "max_query_chars", "--max-query-chars", positive, "characters a query may have (413 beyond)"
    ),
    Setting(
        "workers",
        "--workers",
        whole,
        "query worker processes (of each server process); 0: one per core",
    ),
    Setting(
        "processes",
        "--processes",
        positive,
        "server processes on the port, each client address always served by the same one "
        "(each has its own query workers and answer cache)",
    ),
    Setting(
        "worker_memory_mb",
        "--worker-memory-mb",
        positive,
        "MB of memory one query worker may use (RLIMIT_DATA; a query past it gets 503)",
    ),
    Setting(
        "cache_mb",
        "--cache-mb",
        whole,
        "memory for answers to repeated queries, kept until the next build; 0 keeps none",
    ),
    Setting(
        "cache_max_age_s",
        "--cache-max-age",
        whole,
        "seconds an HTTP cache may reuse a GET answer without asking again; 0: always ask",
    ),
    Setting(
        "max_connections",
        "--max-connections",
        positive,
        "open HTTP connections; more are closed at once (fewer if the open-file limit is low)",
    ),
    Setting(
        "max_client_connections",
        "--max-client-connections",
        positive,
        "open HTTP connections from one client address; more are closed at once",
    ),
    Setting(
        "header_timeout_s",
        "--header-timeout",
        seconds,
        "seconds a client has to send a request's headers before it is disconnected",
    ),
    Setting(
        "keepalive_timeout_s",
        "--keepalive-timeout",
        seconds,
        "seconds an idle kept-alive connection stays open",
    ),
    Setting(
        "send_timeout_s",
        "--send-timeout",
        seconds,
        "seconds a client may leave an answer untaken (reading nothing, or too little) "
        "before it is disconnected",
    ),
    Setting(
        "body_timeout_s",
        "--body-timeout",
        seconds,
        "seconds a client has to send a request's body (a POST's) once its headers are in",
    ),
)


class SettingError(GeokbError):
    """An environment variable holds a value its setting cannot take."""


def from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, object]:
    """The settings given by ``GEOKB_*`` environment variables, parsed and checked."""
    found: dict[str, object] = {}
    for setting in TABLE:
        text = environ.get(setting.env)
        if text is None:
            continue
        try:
            found[setting.name] = setting.parse(text.strip())
        except ValueError as exc:
            raise SettingError(f"{setting.env}: {exc}") from None
    return found
