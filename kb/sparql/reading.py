"""Read a SPARQL query the way the engine reads it, and decide what it may do.

Every decision geokb takes about a query — read-only or not, SERVICE, which result shape,
whether its answer may be kept, whether it names its own dataset, how deep it nests — is
taken on the tokens of this reader, never on a pattern over the raw text. A pattern over
the text reads ``ORDER BY(1<2)#> LIMIT 5`` as an IRI followed by ``LIMIT 5``; the engine
reads a comparison, a comment, and no LIMIT at all.

The tokens are the terminals of the SPARQL 1.1 grammar (§19.8: IRIREF, prefixed names with
their escapes, blank node labels, variables, strings with escapes, numbers, language tags,
comments, white space) plus the SPARQL 1.2 punctuation Oxigraph accepts (``<<``, ``>>``,
``<<(``, ``)>>``, ``{|``, ``|}``, ``~``). One terminal is read differently by Oxigraph than
by the W3C grammar's longest-match rule: inside an expression, right after an operand,
``<`` is always the less-than operator (``FILTER(?a<?b)#>`` is not an IRI). The reader
therefore keeps a stack of the brackets it is in (a group pattern, an expression, a list
of terms, a blank node, a quoted triple) and reads ``<`` by that context, as Oxigraph does.
Differences in the other direction are safe by construction: text this reader cannot read
is refused, text it reads that the engine refuses (e.g. a name holding a character past
U+FFFF, which the grammar allows and Oxigraph 0.5 does not; the lookups' recogniser sends
those to the engine) gets the engine's error, and every guarantee that matters for safety
is also enforced elsewhere (the row and byte caps on the result stream, the operating
system's ban on network access in the query workers).

Reading costs a few microseconds per token (see ``bench/reading.py``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from kb.errors import QueryError, QueryRefused, QueryTooLong
from kb.sparql import lookups
from kb.sparql.lookups import Lookup

MAX_QUERY_CHARS = 100_000
# Oxigraph's parser and optimiser recurse: 5,000 nested brackets, or 30,000 operators or
# UNIONs in a row, overflow a thread's 8 MiB stack (measured with pyoxigraph 0.5.13; query
# workers run with a 64 MiB stack, see api/worker.py). The limits leave a wide margin.
MAX_NESTING = 200  # brackets, and prefix operators (!, +, -) in a row
MAX_PARTS = 2_000  # operators, or pattern parts (. ; , UNION BIND ...), inside one bracket

Form = Literal["SELECT", "ASK", "CONSTRUCT", "DESCRIBE"]
Shape = Literal["solutions", "graph"]

_UPDATE_WORDS = frozenset(
    ["INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"]
)
_VOLATILE_WORDS = frozenset(["RAND", "NOW", "UUID", "STRUUID", "BNODE"])
_FORMS = frozenset(["SELECT", "ASK", "CONSTRUCT", "DESCRIBE"])
# Words that start a clause of a query or a group pattern.
_CLAUSES = frozenset(
    [
        "SELECT", "CONSTRUCT", "DESCRIBE", "ASK", "WHERE", "FROM", "ORDER", "GROUP",
        "HAVING", "LIMIT", "OFFSET", "VALUES", "FILTER", "BIND", "OPTIONAL", "MINUS",
        "UNION", "GRAPH", "SERVICE",
    ]
)  # fmt: skip
# Clauses in which a bracket or an IRI followed by "(" is an expression / a function call.
_EXPRESSION_CLAUSES = frozenset(["SELECT", "ORDER", "GROUP", "HAVING"])
# Parts of a group pattern that nest in the engine's algebra as they repeat.
_PATTERN_PARTS = frozenset(["UNION", "OPTIONAL", "MINUS", "BIND", "FILTER", "GRAPH", "VALUES"])

# The grammar's character classes (SPARQL 1.1, §19.8).
_BASE = (
    "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_U = _BASE + "_"
_CHARS = _U + r"\-0-9\u00b7\u0300-\u036f\u203f-\u2040"
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_PREFIX = rf"[{_BASE}](?:[{_CHARS}.]*[{_CHARS}])?"
_LOCAL = rf"(?:[{_U}:0-9]|{_PLX})(?:(?:[{_CHARS}.:]|{_PLX})*(?:[{_CHARS}:]|{_PLX}))?"
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_IRIREF = rf"<(?:[^<>\"{{}}|^`\\\x00-\x20]|{_UCHAR})*>"
_EXPONENT = r"[eE][+-]?[0-9]+"

# One alternative per terminal; where two can match at one place the longer comes first.
_TOKEN = re.compile(
    "|".join(
        [
            r"(?P<ws>[ \t\r\n]+)",
            r"(?P<comment>#[^\r\n]*)",
            rf"(?P<iri>{_IRIREF})",
            rf"(?P<pname>(?:{_PREFIX})?:(?:{_LOCAL})?)",
            rf"(?P<bnode>_:[{_U}0-9](?:[{_CHARS}.]*[{_CHARS}])?)",
            rf"(?P<var>[?$][{_U}0-9][{_U}0-9\u00b7\u0300-\u036f\u203f-\u2040]*)",
            r"(?P<string>'''(?:'{0,2}(?:[^'\\]|\\.))*'''"
            r'|"""(?:"{0,2}(?:[^"\\]|\\.))*"""'
            r"|'(?:[^'\\\n\r]|\\.)*'"
            r'|"(?:[^"\\\n\r]|\\.)*")',
            rf"(?P<number>[0-9]+\.[0-9]*{_EXPONENT}|\.[0-9]+{_EXPONENT}|[0-9]+{_EXPONENT}"
            r"|[0-9]*\.[0-9]+|[0-9]+)",
            r"(?P<langtag>@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*(?:--[a-zA-Z]+)?)",
            r"(?P<word>[A-Za-z][A-Za-z0-9_]*)",
            r"(?P<punct><<\(|<<|\)>>|\{\||\|\}|\^\^|&&|\|\||!=|<=|>=|[{}()\[\].,;*/|^?+\-!=<>~])",
        ]
    ),
    re.DOTALL,
)
_LESS = re.compile(r"<=?")

FrameKind = Literal["group", "expr", "list", "data", "bnode", "annotation", "triple"]
# What closes each kind of bracket.
_CLOSER: dict[FrameKind, str] = {
    "group": "}",
    "data": "}",
    "expr": ")",
    "list": ")",
    "bnode": "]",
    "annotation": "|}",
    "triple": ">>",
}


@dataclass(frozen=True)
class Reading:
    """What a query does, as the engine reads it."""

    form: Form
    volatile: bool  # calls RAND, NOW, UUID, STRUUID or BNODE: its answer may not be kept
    has_dataset: bool  # its own FROM / FROM NAMED clauses
    limit: int | None  # the outermost query's LIMIT, if it has one
    depth: int  # the deepest bracket nesting
    # one triple pattern a store index answers (kb.sparql.lookups); not sent to workers
    lookup: Lookup | None = None

    @property
    def shape(self) -> Shape:
        """Solutions (SELECT, ASK) or a graph (CONSTRUCT, DESCRIBE)."""
        return "solutions" if self.form in ("SELECT", "ASK") else "graph"


class _Frame:
    """One open bracket: its kind, the clause it is in, and how many parts it holds."""

    __slots__ = ("clause", "kind", "parts")

    def __init__(self, kind: FrameKind) -> None:
        self.kind = kind
        self.clause = ""
        self.parts = 0


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def read(text: str, max_chars: int = MAX_QUERY_CHARS) -> Reading:
    """Read ``text`` as a SPARQL query; raise QueryRefused for what must not run here
    (updates, SERVICE), QueryTooLong, or QueryError for what cannot be read or nests too
    deep for the engine."""
    if len(text) > max_chars:
        raise QueryTooLong(f"query is {len(text):,} characters long; the limit is {max_chars:,}")
    top = _Frame("group")
    frames = [top]
    depth = 0
    form: Form | None = None
    volatile = has_dataset = False
    limit: int | None = None
    prev_kind = prev_value = ""  # the last significant token
    prev2_value = ""  # the one before it
    operand = False  # inside an expression: the last token ended an operand
    prefix_ops = 0  # prefix operators (! + -) in a row
    pending_limit = False
    kept: list[lookups.Token] | None = []  # the significant tokens, while few
    pos, end = 0, len(text)
    match = _TOKEN.match
    while pos < end:
        frame = frames[-1]
        if text[pos] == "<" and frame.kind == "expr" and operand:
            m = _LESS.match(text, pos)  # Oxigraph: after an operand, '<' compares
            assert m is not None
            kind, value = "punct", m.group()
        else:
            m = match(text, pos)
            if m is None:
                raise QueryError(
                    f"SPARQL syntax error at {_where(text, pos)}: unexpected {text[pos]!r}"
                )
            kind = m.lastgroup or ""
            value = m.group()
            if kind == "punct":
                # A closer that only exists inside its own bracket: elsewhere it is two
                # ordinary tokens (')' then '>>', or '|' then '}', or '>' then '>').
                if value == ")>>" and frame.kind != "triple":
                    value = ")"
                elif value == "|}" and frame.kind != "annotation":
                    value = "|"
                elif value == ">" and frame.kind == "triple" and text.startswith(">>", pos):
                    value = ">>"
        pos = m.end() if kind != "punct" else pos + len(value)
        if kind in ("ws", "comment"):
            continue
        if kept is not None:
            kept.append((kind, value))
            if len(kept) > lookups.MAX_TOKENS:
                kept = None
        limit_next, pending_limit = pending_limit, False

        if kind == "word":
            word = value.upper()
            if word in _UPDATE_WORDS:
                extra = " and never fetches remote data" if word == "LOAD" else ""
                raise QueryRefused(
                    f"SPARQL Update ({word}) is not allowed: this endpoint is read-only{extra}. "
                    "Change the data in data/*.yaml and run 'geokb build'."
                )
            if word == "SERVICE":
                raise QueryRefused(
                    "SERVICE is not allowed: this endpoint never sends requests to other "
                    "endpoints on a client's behalf. Query the remote endpoint directly."
                )
            if word in _VOLATILE_WORDS:
                volatile = True
            if frame.kind == "group" and word in _CLAUSES:
                frame.clause = word
                if word in _PATTERN_PARTS:
                    _count_part(frame, text, pos)
            if frame is top:
                if word in _FORMS and form is None:
                    form = word  # type: ignore[assignment]
                elif word == "FROM":
                    has_dataset = True
                elif word == "LIMIT":
                    pending_limit = True
            operand = word in ("TRUE", "FALSE") or (value == "a" and frame.kind != "expr")
            if frame.kind == "expr" and word in ("IN", "NOT", "AS", "DISTINCT", "SEPARATOR"):
                operand = False
            prefix_ops = 0
        elif kind == "punct":
            if value in ("(", "{", "[", "{|", "<<", "<<("):
                new = _Frame(_opening(value, frame, prev_kind, prev_value, prev2_value))
                if frame.kind in ("group", "data") and value == "{":
                    frame.clause = "PATTERN"
                frames.append(new)
                depth = max(depth, len(frames) - 1)
                if len(frames) - 1 > MAX_NESTING:
                    raise QueryError(
                        f"the query nests brackets more than {MAX_NESTING} deep (at "
                        f"{_where(text, pos)}); deeper queries could crash the query engine"
                    )
                operand = False
                prefix_ops = 0
            elif value in (")", "}", "]", "|}", ">>", ")>>"):
                if len(frames) == 1:
                    raise QueryError(
                        f"SPARQL syntax error at {_where(text, pos - len(value))}: "
                        f"{value!r} closes nothing"
                    )
                frames.pop()
                operand = True
                prefix_ops = 0
            elif frame.kind == "expr":
                if operand:  # a binary operator, or ',' / ';' between arguments
                    if value not in (",", ";"):  # long argument lists do not nest
                        _count_part(frame, text, pos)
                    operand = False
                    prefix_ops = 0
                elif value in ("!", "+", "-"):
                    prefix_ops += 1
                    if prefix_ops > MAX_NESTING:
                        raise QueryError(
                            f"the query has more than {MAX_NESTING} prefix operators in a row "
                            f"(at {_where(text, pos)}); the query engine could crash on it"
                        )
            else:
                if value in (".", ";", ",", "/", "|") and frame.kind != "data":
                    _count_part(frame, text, pos)
                operand = False
        else:  # a term: IRI, prefixed name, variable, literal, number, language tag
            if limit_next and kind == "number" and value.isdigit():
                limit = int(value)
            operand = True
            prefix_ops = 0
        prev2_value = prev_value
        prev_kind, prev_value = kind, value
    if len(frames) > 1:
        raise QueryError(
            f"SPARQL syntax error: the query ends inside an unclosed "
            f"'{_OPENER[frames[-1].kind]}' (expected '{_CLOSER[frames[-1].kind]}')"
        )
    if form is None:
        raise QueryError("not a SPARQL query: expected SELECT, ASK, CONSTRUCT or DESCRIBE")
    lookup = None
    if kept is not None and form in ("SELECT", "DESCRIBE") and not has_dataset:
        lookup = lookups.recognise(kept)
    return Reading(form, volatile, has_dataset, limit, depth, lookup)


_OPENER: dict[FrameKind, str] = {
    "group": "{",
    "data": "{",
    "expr": "(",
    "list": "(",
    "bnode": "[",
    "annotation": "{|",
    "triple": "<<",
}


def _count_part(frame: _Frame, text: str, pos: int) -> None:
    frame.parts += 1
    if frame.parts > MAX_PARTS:
        raise QueryError(
            f"the query has more than {MAX_PARTS:,} operators or pattern parts inside one "
            f"bracket (at {_where(text, pos)}); the query engine could crash on it. Split it "
            "into groups or use VALUES"
        )


def _opening(
    value: str, frame: _Frame, prev_kind: str, prev_value: str, prev2_value: str
) -> FrameKind:
    """The kind of bracket ``value`` opens, from where it stands."""
    if value == "[":
        return "bnode"
    if value == "{|":
        return "annotation"
    if value in ("<<", "<<("):
        return "triple"
    if value == "{":
        if frame.kind in ("group", "data") and frame.clause == "VALUES":
            return "data"  # VALUES ?x { ... }: rows of terms
        return "group"
    # "(": an expression, or a list of terms (a collection, VALUES variables, a data row,
    # a property path's group)?
    if frame.kind == "expr":
        return "expr"
    if frame.kind in ("data", "list", "bnode", "annotation", "triple"):
        return "list"
    if prev_kind == "word":
        word = prev_value.upper()
        if word == "VALUES" or prev_value == "a":
            return "list"
        return "expr"  # FILTER(, BIND(, BY(, a function such as STR(
    if frame.clause in _EXPRESSION_CLAUSES:
        return "expr"  # SELECT (... AS ?x), ORDER BY <f>(?x), GROUP BY (...)
    if prev_kind in ("iri", "pname") and prev2_value.upper() == "FILTER":
        return "expr"  # FILTER <f>(?x)
    return "list"


class ReadingCache:
    """Readings of recent query texts: a repeated query is read once.

    Bounded by count and by the characters of the texts kept (a text is its own key, and
    its reading is small beside it): 1,024 texts of 76,000 characters past U+FFFF, 4 bytes
    each in a Python string, held ~300 MB when only the count was bounded."""

    def __init__(self, size: int = 1024, chars: int = 4_000_000) -> None:
        self.size = size
        self.chars = chars  # at most this many characters of text kept, in all
        self._held = 0
        self._kept: OrderedDict[tuple[str, int], Reading | QueryError] = OrderedDict()

    def read(self, text: str, max_chars: int = MAX_QUERY_CHARS) -> Reading:
        """``read(text, max_chars)``, from the kept readings when the text was read before."""
        key = (text, max_chars)
        kept = self._kept.get(key)
        if kept is None:
            try:
                kept = read(text, max_chars)
            except QueryTooLong:
                raise  # never keep very long texts
            except QueryError as exc:
                kept = exc
            self._kept[key] = kept
            self._held += len(text)
            while len(self._kept) > self.size or self._held > self.chars:
                (old, _), _ = self._kept.popitem(last=False)
                self._held -= len(old)
        else:
            self._kept.move_to_end(key)
        if isinstance(kept, QueryError):
            raise kept
        return kept
