"""What a build was made from: each data file's content hash, graph, ids and references.

Stored as ``geokb-manifest.json`` inside each build. The next build compares hashes to find
the files that changed, were added or removed, and uses the ids and references of the
unchanged files to check links across files without re-reading them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import URIRef

from kb.model.rdf import NTriples

MANIFEST_NAME = "geokb-manifest.json"
# 4: builds write the default graph (the union of the data and ontology graphs); a build
# of an older version has none, so the next build over it is a full one.
VERSION = 4


@dataclass(frozen=True)
class FileEntry:
    """One data file as last built."""

    sha256: str
    graph: str
    triples: int
    ids: list[str]  # "kind/id" of each record defined in the file
    refs: list[str]  # "kind,kind/id" of each reference: the kinds it may point to, the id
    # what the checks across records need of the file (``kb.build.consistency.Summary``)
    checks: list[list[object]] = field(default_factory=list)

    def id_keys(self) -> list[tuple[str, str]]:
        """The (kind, id) of each record defined in the file."""
        return [(k, i) for k, _, i in (s.partition("/") for s in self.ids)]


@dataclass(frozen=True)
class Manifest:
    """Every data file of a build, and the hash of the model it was checked against."""

    model_sha256: str
    files: dict[str, FileEntry] = field(default_factory=dict)

    def save(self, build: Path) -> None:
        """Write the manifest into a build folder."""
        (build / MANIFEST_NAME).write_text(self.to_json(), encoding="utf-8")

    def to_json(self) -> str:
        """The manifest as compact JSON (it is large: it lists every id)."""
        files = {
            name: {
                "sha256": e.sha256,
                "graph": e.graph,
                "triples": e.triples,
                "ids": e.ids,
                "refs": e.refs,
                "checks": e.checks,
            }
            for name, e in sorted(self.files.items())
        }
        return json.dumps(
            {"version": VERSION, "model_sha256": self.model_sha256, "files": files},
            separators=(",", ":"),
        )


def from_json(text: str) -> Manifest | None:
    """A manifest read back from ``to_json``, or None if it is not one this version reads."""
    try:
        data = json.loads(text)
        if data.get("version") != VERSION:
            return None
        files = {
            name: FileEntry(
                e["sha256"],
                e["graph"],
                e["triples"],
                e["ids"],
                e["refs"],
                e["checks"],
            )
            for name, e in data["files"].items()
        }
        return Manifest(data["model_sha256"], files)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def load(build: Path | None) -> Manifest | None:
    """The manifest of a build, or None if there is none usable (then build in full)."""
    if build is None:
        return None
    try:
        return from_json((build / MANIFEST_NAME).read_text(encoding="utf-8"))
    except OSError:
        return None


KB = Path(__file__).resolve().parent.parent  # kb/, with every subpackage


def model_sha256(package: Path = KB) -> str:
    """A hash of the code that turns a data file into its graph: the model (kinds,
    ontology, shapes) and how files are read, mapped and checked. When any of it changes,
    every file is read again; an unchanged file's graph would otherwise keep what the old
    code made of it. It hashes every module of ``kb/``: a change to, say, the CLI costs one
    full build, where a list of the modules that matter would go stale unnoticed.
    """
    digest = hashlib.sha256()
    for module in sorted(package.rglob("*.py")):
        name = module.relative_to(package).as_posix()
        digest.update(name.encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Compiled:
    """Checked data: the graphs to write, the graphs to drop, and the new manifest.

    In a full build ``graphs`` holds every data file's graph and the ontology graph; in an
    incremental one only the graphs of files that were re-read.
    """

    graphs: dict[URIRef, NTriples]
    removed: tuple[URIRef, ...]
    manifest: Manifest
    records: int  # records read and checked
    full: bool

    def triple_count(self) -> int:
        """Triples in the graphs to write."""
        return sum(g.count for g in self.graphs.values())
