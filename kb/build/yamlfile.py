"""Step 1 of the data path: read one YAML file into a node tree that keeps line numbers.

Only plain YAML is accepted: no anchors or aliases (they make "billion laughs" bombs possible
and are never needed for hand-written facts), no merge keys, no duplicate keys.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

import yaml

from kb.errors import DataError, Location, Problem, relative

try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _Base
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Base  # type: ignore[assignment]


_DEFAULT_TAGS = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


class Loader(_Base):
    """The C loader with no implicit typing: every scalar stays text with its style.

    geokb's fields say what type a value must be, so YAML 1.1's guesses (yes → true,
    010 → 8, 2022-10-13 → a date) are never wanted, and resolving them cost a Python call
    per scalar.
    """

    def resolve(self, kind: type[yaml.Node], value: object, implicit: object) -> str:
        return _DEFAULT_TAGS[kind]


#: Files larger than this are refused before parsing (``--max-file-mb``). Reading, mapping
#: and checking cost about 0.6 s and 80 MB of memory per MB of YAML (measured: 8.6 MiB of
#: transfers, 5.5 s and 730 MB peak; 49 MB, 30 s and 2.5 GB), per worker. The largest real
#: file is under 0.1 MB; the benchmark's largest at 1M triples is 0.3 MB.
MAX_FILE_MB = 8
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024


def node_location(file: str, node: yaml.Node) -> Location:
    """The 1-based line and column where ``node`` starts."""
    mark = node.start_mark
    # tuple.__new__ skips the NamedTuple's Python-level __new__: one is made per value
    return tuple.__new__(Location, (file, mark.line + 1, mark.column + 1))


def read_yaml(path: Path, max_bytes: int = MAX_FILE_BYTES) -> yaml.Node | None:
    """Parse ``path`` into a YAML node tree, or raise DataError naming file, line and column.

    Files over ``max_bytes`` bytes are refused before parsing. Returns None for a file that
    holds only comments (nothing to load).
    """
    name = relative(path)
    text = _read_text(path, name, max_bytes)
    try:
        root = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        raise DataError([_syntax_problem(name, text, exc)]) from None
    except yaml.YAMLError as exc:  # errors without a position
        raise DataError([Problem(Location(name), "", f"not valid YAML: {exc}")]) from None
    if root is None:
        return None
    problems: list[Problem] = []
    # An alias is written '*name' and a merge key '<<': without either in the text, only
    # duplicate keys need looking for, and only mappings can hold them.
    _check_plain(name, root, problems, aliases="*" in text or "<<" in text)
    if problems:
        raise DataError(problems)
    return root


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the data file ``path``, or DataError if it is not a regular file of at
    most ``max_bytes`` bytes (a symbolic link to one is followed).

    Never blocks: a FIFO, a device (``/dev/zero``), a socket or a directory is refused from
    the descriptor it opened, so that nothing can change between the check and the read.
    """
    name = relative(path)
    try:
        # O_NONBLOCK: opening a FIFO waits for a writer without it; O_NOCTTY: a terminal
        # device must not become the build's controlling terminal. Neither matters once the
        # descriptor is known to be a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise DataError([_unreadable(path, name, exc)]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError([_not_regular(name, info.st_mode)])
        if info.st_size > max_bytes:
            raise DataError([_too_large(name, info.st_size, max_bytes)])
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(max_bytes + 1)  # the file may have grown since fstat
        if len(raw) > max_bytes:
            raise DataError([_too_large(name, len(raw), max_bytes)])
        return raw
    except OSError as exc:
        raise DataError([_unreadable(path, name, exc)]) from None
    finally:
        os.close(fd)


def _not_regular(name: str, mode: int) -> Problem:
    if stat.S_ISDIR(mode):
        return Problem(
            Location(name),
            "",
            "is a directory, not a YAML file",
            "data files are '*.yaml' files; move or rename the directory",
        )
    what = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return Problem(
        Location(name),
        "",
        f"is {what}, not a regular file; only regular files are read",
        "replace it with a regular YAML file, or remove it from the data folder",
    )


def _unreadable(path: Path, name: str, exc: OSError) -> Problem:
    # open() fails on a socket, or a device with nothing behind it (ENXIO): say what it is.
    # The stat is only to word the message; nothing is read after it.
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            return _not_regular(name, mode)
    return Problem(Location(name), "", f"cannot be read: {exc.strerror}")


def _too_large(name: str, size: int, limit: int) -> Problem:
    return Problem(
        Location(name),
        "",
        f"file is {_mib(size)} MiB; the limit is {_mib(limit)} MiB per file",
        "split it into several smaller files (by topic or by year), or raise the limit "
        "with --max-file-mb",
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def _read_text(path: Path, name: str, max_bytes: int) -> str:
    raw = read_bytes(path, max_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise DataError(
            [
                Problem(
                    Location(name, line, column),
                    "",
                    f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                    "save the file as UTF-8 (most editors: 'Save with encoding' > UTF-8)",
                )
            ]
        ) from None


def _syntax_problem(name: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
    message = exc.problem or exc.context or "not valid YAML"
    lines = text.splitlines()
    at = lines[mark.line][mark.column : mark.column + 1] if mark and mark.line < len(lines) else ""
    if at == "\t" or "\\t" in message:
        return Problem(loc, "", f"YAML syntax error: {message}", "indent with spaces, not tabs")
    better = _unclosed(name, lines, exc) or (_misindented(name, lines, exc) if mark else None)
    if better is not None:
        return better
    hint = ""
    if "mapping values are not allowed" in message:
        hint = "a value containing ': ' must be quoted, e.g. title: \"A: B\""
    elif "could not find expected ':'" in message:
        hint = "each line of a record needs 'key: value'"
    return Problem(loc, "", f"YAML syntax error: {message}", hint)


_OPENERS = {"[": "]", "{": "}"}


def _unclosed(name: str, lines: list[str], exc: yaml.MarkedYAMLError) -> Problem | None:
    """An unclosed '[' or '{', reported where it opened (libyaml notices it lines later)."""
    start = exc.context_mark
    if start is None or not (exc.context or "").startswith("while parsing a flow"):
        return None
    if (
        start.line >= len(lines)
        or lines[start.line][start.column : start.column + 1] not in _OPENERS
    ):
        return None
    opener = lines[start.line][start.column]
    closer = _OPENERS[opener]
    if _closes_on_line(lines[start.line], start.column):
        return None  # closed on its line: something else inside it is wrong
    problem = exc.problem_mark
    noticed = f"; YAML noticed it at line {problem.line + 1}" if problem else ""
    example = "weapon_systems: [drone-x, drone-y]" if opener == "[" else "label: {en: Iran}"
    return Problem(
        Location(name, start.line + 1, start.column + 1),
        "",
        f"YAML syntax error: this '{opener}' is never closed",
        f"close it with '{closer}' on the same line, e.g. {example}{noticed}",
    )


def _closes_on_line(line: str, column: int) -> bool:
    depth, quote = 0, ""
    for ch in line[column:]:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return True
        elif ch == "#":
            break
    return False


_KEY_LINE = re.compile(r"( *)(?:- +)*([^\s#'\"\[{][^:#]*?|'[^']*'|\"[^\"]*\"):(?: |$)")


_PLAIN_KEY = re.compile(r" *[A-Za-z_][\w-]*:(?: |$)")


def _key_column(line: str) -> int | None:
    """The column of the first key of a 'key: value' or '- key: value' line, else None."""
    m = _KEY_LINE.match(line)
    return m.start(2) if m else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


# what libyaml says when a line is indented less (or a list item more) than its siblings
_INDENT_MESSAGES = ("expected '-' indicator", "expected key", "expected <block end>")


def _spaces(k: int) -> str:
    return f"{k} space{'s' if k != 1 else ''}"


def _misindented(name: str, lines: list[str], exc: yaml.MarkedYAMLError) -> Problem | None:
    """A line indented more or less than its siblings: libyaml's message names what it
    expected next ('-', a key, no ':'), not the indentation that caused it."""
    mark = exc.problem_mark
    message = exc.problem or ""
    if mark is None or mark.line >= len(lines) or not _content(lines[mark.line]):
        return None
    line = lines[mark.line]
    colon = "mapping values are not allowed" in message
    if colon:
        # a key line indented deeper than the key above is read as the rest of that key's
        # value, until its ':'; a ': ' inside a value (title: A: B) is another matter
        if not _PLAIN_KEY.match(line) or ": " in line[: mark.column]:
            return None
    elif not any(s in message for s in _INDENT_MESSAGES):
        return None
    n = _indent(line)
    is_item = line.lstrip(" ").startswith("- ") or line.strip() == "-"
    for before in range(mark.line - 1, -1, -1):
        prev = lines[before]
        if not _content(prev):
            continue
        if is_item:
            if not prev.lstrip(" ").startswith("-"):
                if _indent(prev) < n:
                    break  # a list's first item
                continue
            m = _indent(prev)
        else:
            col = _key_column(prev)
            if col is None:
                return None
            m = col
        if m == n:
            return None
        return Problem(
            Location(name, mark.line + 1, n + 1),
            "",
            f"YAML syntax error: wrong indentation ({message})",
            f"this line is indented {_spaces(n)}; its siblings at line {before + 1} use "
            f"{_spaces(m)}: indent it {_spaces(m)}"
            + (", or it is read as part of the value above" if colon and n > m else ""),
        )
    return None


def _check_plain(name: str, root: yaml.Node, problems: list[Problem], aliases: bool) -> None:
    # Walks with an explicit stack: libyaml allows nesting 1,000 deep, near Python's limit.
    if not aliases:
        _check_mappings(name, root, problems)
        return
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        # A node reached twice is an alias (*name): refuse it without expanding it.
        if id(node) in seen:
            problems.append(
                Problem(
                    node_location(name, node),
                    "",
                    "anchors and aliases (&name, *name) are not supported",
                    "write the value out in full",
                )
            )
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_keys(name, node, problems)
            stack.extend(value for _, value in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _check_mappings(name: str, root: yaml.Node, problems: list[Problem]) -> None:
    scalar = yaml.ScalarNode  # every other value is a scalar: never stack those
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            _check_keys(name, node, problems)
            stack.extend(value for _, value in reversed(node.value) if type(value) is not scalar)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(item for item in reversed(node.value) if type(item) is not scalar)


def _check_keys(name: str, node: yaml.MappingNode, problems: list[Problem]) -> None:
    first: dict[str, yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            problems.append(Problem(node_location(name, key), "", "keys must be plain words"))
        elif key.value == "<<" and not key.style:
            problems.append(
                Problem(
                    node_location(name, key),
                    "<<",
                    "merge keys are not supported",
                    "write the fields out in full",
                )
            )
        elif key.value in first:
            problems.append(
                Problem(
                    node_location(name, key),
                    key.value,
                    f"duplicate key (first given on line {first[key.value].start_mark.line + 1})",
                    "give each key once per record",
                )
            )
        else:
            first[key.value] = key
