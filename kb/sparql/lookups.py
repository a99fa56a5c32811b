"""Recognise the queries that are one triple pattern: entity lookups a store index answers.

Most queries an endpoint like this one gets are lookups: "everything about this transfer"
(``SELECT ?p ?o WHERE { <t> ?p ?o }``), ``DESCRIBE <t>``, "who supplied what"
(``SELECT ?t WHERE { ?t gk:supplier <s> }``). Each is one scan of one store index, and
running it through the query engine in a worker process costs several times the scan
(``bench/README.md``). :func:`recognise` picks them out of the reader's tokens
(``kb.sparql.reading``: the same tokens every other decision about a query is taken on), so
that ``kb.sparql.direct`` can answer them from the index without the engine.

Only one narrow grammar is recognised; anything else, or anything unsure, is ``None`` and
goes to the engine as before::

    Prologue  := ( PREFIX PNAME_NS IRIREF )*          (no BASE; each prefix once; valid IRIs)
    Select    := SELECT ( Var+ | '*' ) WHERE? '{' Term Verb Term '.'? '}' ( LIMIT INTEGER )?
    Describe  := DESCRIBE Iri
    Term      := Var | Iri                             (no literals, no blank nodes)
    Verb      := Term | 'a'
    Iri       := IRIREF | PNAME_LN                     (absolute, no escapes)

The variables of the pattern must differ, and a SELECT must project only them, each once.
``SELECT *`` projects them in the engine's order: sorted by name, not by where they stand.

Where the engine refuses what the grammar allows, the query goes to the engine for its
error: a name (variable, prefix or local part) with a character past U+FFFF, which
Oxigraph's parser does not accept (pyoxigraph 0.5.13), and a prefix's IRI that is not a
valid IRI (pyoxigraph's ``NamedNode`` accepts exactly the absolute IRIs its parser does;
the pattern's IRIs are checked the same way when ``kb.sparql.direct`` makes them nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyoxigraph as ox

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

#: Queries longer than this (significant tokens) are never lookups: the reader stops keeping
#: their tokens.
MAX_TOKENS = 64

Token = tuple[str, str]  # (kind, text): the reader's terminal kinds ("iri", "var", "word", ...)


@dataclass(frozen=True)
class Position:
    """One place of the triple pattern: an IRI (``iri``) or a variable (``var``, its name)."""

    iri: str | None = None
    var: str | None = None


@dataclass(frozen=True)
class Lookup:
    """A query that is one triple pattern over the default graph (or a DESCRIBE of one IRI).

    ``columns``: a SELECT's projected variables, in their order; ``limit``: its LIMIT.
    A DESCRIBE has the IRI as ``subject`` and variables elsewhere, and no columns.
    """

    form: Literal["SELECT", "DESCRIBE"]
    subject: Position
    predicate: Position
    object: Position
    columns: tuple[str, ...] = ()
    limit: int | None = None


def recognise(tokens: list[Token]) -> Lookup | None:
    """The lookup ``tokens`` (a whole query, read by ``kb.sparql.reading``) are, or None."""
    try:
        return _Parser(tokens).query()
    except _NotALookup:
        return None


class _NotALookup(Exception):
    pass


def _name(text: str) -> str:
    """``text`` (a variable or a prefixed name), unless it holds a character past U+FFFF:
    the grammar allows those in names, but the engine's parser refuses them."""
    if not text.isascii() and max(text) > "\uffff":  # (isascii is one flag test)
        raise _NotALookup
    return text


def _valid(iri: str) -> str:
    """``iri`` (a prefix's, which only the engine would read), if the engine accepts it."""
    try:
        ox.NamedNode(iri)
    except ValueError:
        raise _NotALookup from None
    return iri


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.prefixes: dict[str, str] = {}

    def query(self) -> Lookup:
        while self._word("PREFIX"):
            name = _name(self._take("pname"))
            iri = self._take("iri")
            # PNAME_NS: the one ':' ends it ('x:y:' is a prefixed name, which the engine
            # refuses here); a redeclared prefix: which one wins is the engine's call
            if name.find(":") != len(name) - 1 or name in self.prefixes:
                raise _NotALookup
            self.prefixes[name] = _valid(self._absolute(iri[1:-1]))
        if self._word("DESCRIBE"):
            iri = self._iri()
            self._end()
            return Lookup("DESCRIBE", Position(iri=iri), Position(var="p"), Position(var="o"))
        if not self._word("SELECT"):
            raise _NotALookup
        columns: list[str] = []
        star = self._punct("*")
        while not star and self._peek()[0] == "var":
            columns.append(self._take("var")[1:])
        if not star and not columns:
            raise _NotALookup
        self._word("WHERE")
        self._expect_punct("{")
        subject, predicate, obj = self._term(), self._verb(), self._term()
        self._punct(".")
        self._expect_punct("}")
        limit = None
        if self._word("LIMIT"):
            number = self._take("number")
            # (the engine refuses a LIMIT past 2**64 - 1 as a syntax error: leave those to it)
            if not number.isdigit() or len(number) > 18:
                raise _NotALookup
            limit = int(number)
        self._end()
        names = [p.var for p in (subject, predicate, obj) if p.var is not None]
        if len(set(names)) != len(names):
            raise _NotALookup  # ?x ?p ?x: a join in disguise
        if star:
            columns = sorted(names)  # the engine's order for '*': by name (code points)
        elif len(set(columns)) != len(columns) or not set(columns) <= set(names):
            raise _NotALookup
        return Lookup("SELECT", subject, predicate, obj, tuple(columns), limit)

    # -- pieces -------------------------------------------------------------------------

    def _term(self) -> Position:
        kind, text = self._peek()
        if kind == "var":
            self.pos += 1
            return Position(var=_name(text)[1:])
        return Position(iri=self._iri())

    def _verb(self) -> Position:
        if self._peek() == ("word", "a"):  # only the lower-case 'a' is rdf:type
            self.pos += 1
            return Position(iri=RDF_TYPE)
        return self._term()

    def _iri(self) -> str:
        kind, text = self._peek()
        if kind == "iri":
            self.pos += 1
            return self._absolute(text[1:-1])
        if kind == "pname":
            self.pos += 1
            name, _, local = _name(text).partition(":")
            namespace = self.prefixes.get(name + ":")
            if namespace is None or "\\" in local:  # (escapes in local names: to the engine)
                raise _NotALookup
            return namespace + local
        raise _NotALookup

    @staticmethod
    def _absolute(iri: str) -> str:
        # No escapes to decode and no base to resolve against: such IRIs go to the engine.
        scheme, colon, _ = iri.partition(":")
        if "\\" in iri or not colon or not scheme or not scheme[0].isalpha():
            raise _NotALookup
        if not all(c.isalnum() or c in "+-." for c in scheme):
            raise _NotALookup
        return iri

    def _peek(self) -> Token:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "")

    def _take(self, kind: str) -> str:
        found, text = self._peek()
        if found != kind:
            raise _NotALookup
        self.pos += 1
        return text

    def _word(self, word: str) -> bool:
        kind, text = self._peek()
        if kind == "word" and text.upper() == word:
            self.pos += 1
            return True
        return False

    def _punct(self, value: str) -> bool:
        if self._peek() == ("punct", value):
            self.pos += 1
            return True
        return False

    def _expect_punct(self, value: str) -> None:
        if not self._punct(value):
            raise _NotALookup

    def _end(self) -> None:
        if self.pos != len(self.tokens):
            raise _NotALookup
