"""Write query results incrementally, with a cap on rows, in every result format.

pyoxigraph's own serialisers write a whole result at once and cannot stop after N rows, so
SELECT results are written here (SPARQL 1.1 JSON, XML, CSV and TSV), row by row, into any
``write(bytes)`` sink; graph results go through ``pyoxigraph.serialize`` after the cap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import pyoxigraph as ox

from kb.model.prefixes import PREFIXES
from kb.sparql.formats import Format

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
Row = list[Term | None]
Write = Callable[[bytes], object]

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


@dataclass(frozen=True)
class Capped:
    """A result cut to at most ``limit`` rows (or triples), and whether anything was cut."""

    result: ox.QueryBoolean | tuple[list[str], list[Row]] | list[ox.Triple]
    truncated: bool


def cap(
    result: ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples | list[ox.Triple], limit: int
) -> Capped:
    """Take at most ``limit`` rows or triples from ``result``; the rest is never evaluated."""
    if isinstance(result, ox.QueryBoolean):
        return Capped(result, False)
    if isinstance(result, ox.QueryTriples | list):
        triples = list(islice(result, limit + 1))
        return Capped(triples[:limit], len(triples) > limit)
    names = [v.value for v in result.variables]
    # a solution iterates its values in the order of the variables: far faster than by name
    rows: list[Row] = [list(sol) for sol in islice(result, limit + 1)]
    return Capped((names, rows[:limit]), len(rows) > limit)


def write(capped: Capped, fmt: Format, out: Write) -> None:
    """Serialise a capped result in ``fmt`` into ``out``."""
    result = capped.result
    if isinstance(result, ox.QueryBoolean):
        data = result.serialize(format=fmt.ox_format)  # type: ignore[arg-type]
        assert data is not None
        out(data)
    elif isinstance(result, list):
        assert isinstance(fmt.ox_format, ox.RdfFormat)
        prefixes = PREFIXES if fmt.name in ("turtle", "rdfxml", "jsonld") else None
        ox.serialize(result, Sink(out), format=fmt.ox_format, prefixes=prefixes)  # type: ignore[arg-type]
    else:
        names, rows = result
        writer = _WRITERS[fmt.name]
        for chunk in writer(names, rows, capped.truncated):
            out(chunk.encode("utf-8"))


class AnswerTooLarge(Exception):
    """Raised by a :class:`Budget` when an answer grows past its byte cap."""


class Budget:
    """Collects an answer's bytes up to ``max_bytes``; one byte more raises AnswerTooLarge."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0

    def __call__(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise AnswerTooLarge
        self.parts.append(data)


class RowBudget(Budget):
    """A :class:`Budget` for a SELECT answer pyoxigraph writes in ``fmt``: it also raises
    AnswerTooLarge (with ``too_many_rows`` set) once the bytes may hold more than ``max_rows``
    rows, counted as :func:`most_rows` counts them, as they come."""

    def __init__(self, max_bytes: int, fmt: Format, max_rows: int) -> None:
        super().__init__(max_bytes)
        self.mark, offset = _ROW_MARKS[fmt.name]
        self.max_marks = max_rows - offset
        self.marks = 0
        self.too_many_rows = False
        self._tail = b""  # the last bytes written, where a mark may start

    def __call__(self, data: bytes) -> None:
        keep = len(self.mark) - 1
        # marks inside this piece, and those that straddle the previous one and this one
        self.marks += data.count(self.mark) + (self._tail + data[:keep]).count(self.mark)
        self._tail = data[-keep:] if len(data) >= keep else (self._tail + data)[-keep:]
        if self.marks > self.max_marks:
            self.too_many_rows = True
            raise AnswerTooLarge
        super().__call__(data)


@dataclass(frozen=True)
class Bounded:
    """A whole answer within the caps: its bytes, and why it was cut ("" if it was not)."""

    parts: list[bytes]
    size: int
    cut: str  # "", "rows" or "bytes"


def write_bounded(capped: Capped, fmt: Format, max_bytes: int) -> Bounded:
    """Serialise ``capped`` into at most ``max_bytes``; an answer that would be longer keeps
    only the rows (or triples) that fit, and says so where the format can (JSON, XML)."""
    budget = Budget(max_bytes)
    try:
        write(capped, fmt, budget)
        return Bounded(budget.parts, budget.size, "rows" if capped.truncated else "")
    except AnswerTooLarge:
        pass
    items = capped.result[1] if isinstance(capped.result, tuple) else capped.result
    assert isinstance(items, list)
    # Fewer rows until the answer fits: each try stops at the cap, so it costs at most
    # max_bytes of writing; the estimate shrinks by the share that did not fit.
    keep = len(items)
    while True:
        keep = min(keep - 1, int(keep * max_bytes / max(budget.size, 1) * 0.9))
        keep = max(keep, 0)
        if isinstance(capped.result, tuple):
            smaller = Capped((capped.result[0], capped.result[1][:keep]), True)
        else:
            smaller = Capped(capped.result[:keep], True)  # type: ignore[index]
        budget = Budget(max_bytes)
        try:
            write(smaller, fmt, budget)
        except AnswerTooLarge:
            if keep == 0:  # not even the head fits: an empty answer
                return Bounded([], 0, "bytes")
            continue
        return Bounded(budget.parts, budget.size, "bytes")


# The number of rows a serialised SELECT answer can hold at most, from its bytes, per format:
# every row boundary writes this separator, and a value can only add more of them (XML
# escapes '<', TSV escapes line breaks, so their counts are exact).
_ROW_MARKS = {
    "json": (b"},{", 1),
    "xml": (b"<result>", 0),
    "csv": (b"\r\n", -1),
    "tsv": (b"\n", -1),
}


def most_rows(data: bytes, fmt: Format) -> int:
    """An upper bound on the rows of a SELECT answer serialised by pyoxigraph in ``fmt``."""
    mark, offset = _ROW_MARKS[fmt.name]
    return data.count(mark) + offset


class Sink:
    """A binary file-like object that passes every write on to ``out``."""

    def __init__(self, out: Write) -> None:
        self._out = out

    def write(self, data: bytes) -> int:
        self._out(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _batched(lines: Iterable[str], size: int = 500) -> Iterator[str]:
    it = iter(lines)
    while batch := "".join(islice(it, size)):
        yield batch


_quote = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as is


def _json_term(term: Term) -> str:
    if isinstance(term, ox.NamedNode):
        return '{"type":"uri","value":' + _quote(term.value) + "}"
    if isinstance(term, ox.Literal):
        value = _quote(term.value)
        if term.language:
            tagged = '{"type":"literal","value":' + value + ',"xml:lang":' + _quote(term.language)
            direction = term.direction  # RDF 1.2: a base direction, for some tagged literals
            if direction is not None:
                return tagged + ',"its:dir":"' + str(direction) + '"}'
            return tagged + "}"
        datatype = term.datatype.value
        if datatype != XSD_STRING:
            return '{"type":"literal","value":' + value + ',"datatype":' + _quote(datatype) + "}"
        return '{"type":"literal","value":' + value + "}"
    if isinstance(term, ox.BlankNode):
        return '{"type":"bnode","value":' + _quote(term.value) + "}"
    return (
        '{"type":"triple","value":{"subject":'
        + _json_term(term.subject)
        + ',"predicate":'
        + _json_term(term.predicate)
        + ',"object":'
        + _json_term(term.object)
        + "}}"
    )


def _json(names: list[str], rows: list[Row], truncated: bool) -> Iterator[str]:
    yield '{"head":{"vars":[' + ",".join(map(_quote, names)) + "]}"
    if truncated:
        yield ',"truncated":true'
    yield ',"results":{"bindings":['
    keys = [_quote(n) + ":" for n in names]

    def lines() -> Iterator[str]:
        for i, row in enumerate(rows):
            cells = ",".join(
                k + _json_term(t) for k, t in zip(keys, row, strict=True) if t is not None
            )
            yield ("{" if i == 0 else ",{") + cells + "}"

    yield from _batched(lines())
    yield "]}}"


# pyoxigraph's XML layout and escaping (no line breaks; the five XML specials as entity
# references; white space as character references where it starts or ends a text, as itself
# inside one), so that an answer written here is byte for byte the one the engine's own
# serialiser writes (tests/test_results.py). (Not xml.sax.saxutils: that module imports
# urllib.request, and with it ssl and http.client, ~9 MB in every query worker.)
_XML_SPECIALS = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
)
_XML_SPACE = " \t\n\r"
_XML_SPACE_REFS = str.maketrans({" ": "&#32;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})


def _escape(text: str) -> str:
    """``text`` as XML character data or a double-quoted attribute value."""
    core = text.strip(_XML_SPACE)
    if len(core) == len(text):
        return text.translate(_XML_SPECIALS)
    lead = len(text) - len(text.lstrip(_XML_SPACE))
    tail = len(text) - lead - len(core)
    return (
        text[:lead].translate(_XML_SPACE_REFS)
        + core.translate(_XML_SPECIALS)
        + text[len(text) - tail :].translate(_XML_SPACE_REFS)
    )


_ITS = "http://www.w3.org/2005/11/its"  # the namespace of its:dir, a literal's direction


def _xml_term(term: Term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{_escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{_escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            attributes = f'xml:lang="{_escape(term.language)}"'
            if term.direction is not None:  # RDF 1.2's base direction, as pyoxigraph writes it
                attributes += f' its:dir="{term.direction}" xmlns:its="{_ITS}" its:version="2.0"'
            return f"<literal {attributes}>{_escape(term.value)}</literal>"
        if term.datatype.value != XSD_STRING:
            datatype = _escape(term.datatype.value)
            return f'<literal datatype="{datatype}">{_escape(term.value)}</literal>'
        return f"<literal>{_escape(term.value)}</literal>"
    return (
        f"<triple><subject>{_xml_term(term.subject)}</subject>"
        f"<predicate>{_xml_term(term.predicate)}</predicate>"
        f"<object>{_xml_term(term.object)}</object></triple>"
    )


def _xml(names: list[str], rows: list[Row], truncated: bool) -> Iterator[str]:
    yield '<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>'
    yield "".join(f'<variable name="{_escape(n)}"/>' for n in names)
    if truncated:
        yield '<link href="https://w3id.org/geokb/ontology#TruncatedResult"/>'
    yield "</head><results>"

    def lines() -> Iterator[str]:
        for row in rows:
            cells = "".join(
                f'<binding name="{_escape(n)}">{_xml_term(t)}</binding>'
                for n, t in zip(names, row, strict=True)
                if t is not None
            )
            yield f"<result>{cells}</result>"

    yield from _batched(lines())
    yield "</results></sparql>"


def _csv_cell(term: Term | None) -> str:
    if term is None:
        text = ""
    elif isinstance(term, ox.BlankNode):
        text = f"_:{term.value}"
    elif isinstance(term, ox.NamedNode | ox.Literal):
        text = term.value
    else:
        text = str(term)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(names: list[str], rows: list[Row], truncated: bool) -> Iterator[str]:
    yield ",".join(_csv_cell(ox.Literal(n)) for n in names) + "\r\n"
    yield from _batched(",".join(_csv_cell(t) for t in row) + "\r\n" for row in rows)


def _tsv(names: list[str], rows: list[Row], truncated: bool) -> Iterator[str]:
    yield "\t".join(f"?{n}" for n in names) + "\n"
    yield from _batched("\t".join("" if t is None else str(t) for t in row) + "\n" for row in rows)


_WRITERS: dict[str, Callable[[list[str], list[Row], bool], Iterator[str]]] = {
    "json": _json,
    "xml": _xml,
    "csv": _csv,
    "tsv": _tsv,
}
