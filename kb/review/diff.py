"""``geokb diff``: the facts added, removed and changed between two git revisions of data/.

Each revision's data/ is taken out of git into a temporary folder and compiled (so both must
be valid); records are compared by IRI, field by field, the way a reviewer reads a data pull
request. The same comparison is available as JSON or as Turtle (the added and the removed
triples) for tools.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from kb.build.pipeline import compile_data
from kb.errors import GeokbError
from kb.model.schema import GRAPH_BASE, kind_of_iri

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


class GitError(GeokbError):
    """git could not give the data of a revision."""


@dataclass
class RecordChange:
    """What changed in one record: values added and removed, by predicate."""

    iri: str
    added: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DataDiff:
    """Records added, removed and changed, and the triples behind them."""

    added: list[str]
    removed: list[str]
    changed: list[RecordChange]
    added_triples: list[ox.Triple]
    removed_triples: list[ox.Triple]


def _data_triples(data_dir: Path) -> set[ox.Triple]:
    compiled = compile_data(data_dir)
    return {
        triple
        for iri, graph in compiled.graphs.items()
        if str(iri).startswith(GRAPH_BASE + "data/")
        for triple in graph.triples()
    }


def _triples_at(repo: Path, rev: str | None, data: str) -> set[ox.Triple]:
    if rev is None:
        return _data_triples(repo / data)
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "--", data],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip()
        raise GitError(f"git has no {data}/ at '{rev}': {message}") from None
    with tempfile.TemporaryDirectory(prefix="geokb-diff-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        return _data_triples(Path(tmp) / data)


def diff(repo: Path, old_rev: str, new_rev: str | None = None, data: str = "data") -> DataDiff:
    """Compare data/ at ``old_rev`` with ``new_rev`` (default: the working tree)."""
    old, new = _triples_at(repo, old_rev, data), _triples_at(repo, new_rev, data)
    gone, came = old - new, new - old
    subjects_old = {_show(t.subject) for t in old if t.predicate.value == RDF_TYPE}
    subjects_new = {_show(t.subject) for t in new if t.predicate.value == RDF_TYPE}
    added = sorted(subjects_new - subjects_old)
    removed = sorted(subjects_old - subjects_new)
    changes: dict[str, RecordChange] = {}
    for triples, side in ((came, "added"), (gone, "removed")):
        for t in triples:
            s = _show(t.subject)
            if s in subjects_old and s in subjects_new:
                change = changes.setdefault(s, RecordChange(s))
                getattr(change, side).setdefault(t.predicate.value, []).append(
                    _short(_show(t.object))
                )
    return DataDiff(
        added,
        removed,
        [changes[k] for k in sorted(changes)],
        sorted(came, key=str),
        sorted(gone, key=str),
    )


def _show(term: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple) -> str:
    if isinstance(term, ox.NamedNode | ox.BlankNode | ox.Literal):
        return term.value
    return str(term)


def _short(iri: str) -> str:
    found = kind_of_iri(iri)
    if found is not None:
        return f"{found[0].name}/{found[1]}"
    return iri.split("#")[-1] if "#" in iri else iri


def as_text(d: DataDiff) -> str:
    """The diff as a reviewer reads it."""
    lines = [f"+ {_short(i)}" for i in d.added]
    lines += [f"- {_short(i)}" for i in d.removed]
    for change in d.changed:
        lines.append(f"~ {_short(change.iri)}")
        for prop in sorted(set(change.added) | set(change.removed)):
            old = ", ".join(sorted(change.removed.get(prop, []))) or "(none)"
            new = ", ".join(sorted(change.added.get(prop, []))) or "(none)"
            lines.append(f"    {_short(prop)}: {old} -> {new}")
    lines.append(f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed")
    return "\n".join(lines)


def as_json(d: DataDiff) -> str:
    """The diff as JSON for tools."""
    return json.dumps(
        {
            "added": d.added,
            "removed": d.removed,
            "changed": [{"iri": c.iri, "added": c.added, "removed": c.removed} for c in d.changed],
        },
        indent=2,
        ensure_ascii=False,
    )


def as_turtle(d: DataDiff) -> str:
    """The added and removed triples, as two Turtle sections."""
    added = ox.serialize(d.added_triples, format=ox.RdfFormat.TURTLE) or b""
    removed = ox.serialize(d.removed_triples, format=ox.RdfFormat.TURTLE) or b""
    return "# added\n" + added.decode() + "\n# removed\n" + removed.decode()
