"""The ``geokb`` command: parses arguments, calls the data path, prints for people.

Every geokb error is caught here, once, and printed as a message; nothing else lives here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import DataError, GeokbError, relative
from kb.stores.current import DEFAULT_STORE  # (light: no store library)

if TYPE_CHECKING:
    from api.settings import Settings
    from kb.build.pipeline import Progress
    from kb.stores.remote import RemoteStore

# Each verb imports what it uses: a command should start fast, and the query workers of
# 'geokb serve' (spawned processes) import this module again before they start.

DEFAULT_DATA = Path("data")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of 1 or more")
    return int(text)


def _serve_limits(p: argparse.ArgumentParser, environ: Mapping[str, str] | None) -> None:
    """The 'geokb serve' flags, one per row of the settings table (api.settings.TABLE): the
    environment variable of each gives its default, else the Settings field does."""
    from api.settings import TABLE, from_environment

    given = from_environment(os.environ if environ is None else environ)
    for setting in TABLE:

        def parse(text: str, setting: object = setting) -> object:
            try:
                return setting.parse(text)  # type: ignore[attr-defined]
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        p.add_argument(
            setting.flag,
            dest=setting.name,
            metavar=setting.flag[2:].upper().replace("-", "_"),
            type=parse,
            default=given.get(setting.name, setting.default),
            help=f"{setting.help} (env {setting.env}; default: %(default)s)",
        )


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of every verb (also used to write docs/cli.md). ``environ`` gives
    the GEOKB_* settings (default: the process environment; the docs use none)."""
    parser = argparse.ArgumentParser(
        prog="geokb",
        description="Build, check, query and serve the geokb knowledge base.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def jobs_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--jobs",
            type=_positive,
            default=None,
            metavar="N",
            help="worker processes that read, map and check files (default: one per core "
            "when there is over 2 MB of YAML to read, else none; 1: none)",
        )

    def max_file_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--max-file-mb",
            type=_positive,
            default=8,  # kb.build.yamlfile.MAX_FILE_MB, spelled here to keep imports light
            metavar="MB",
            help="refuse data files larger than this, unread: checking one costs about 80 MB "
            "of memory per MB of YAML (default: 8)",
        )

    def data_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data",
            type=Path,
            default=DEFAULT_DATA,
            help="folder of YAML data files (default: data)",
        )

    def store_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            default=str(DEFAULT_STORE),
            help="folder of the embedded store (default: .geokb), or the SPARQL query URL "
            "of a remote store, e.g. http://127.0.0.1:7878/query",
        )
        p.add_argument("--update-url", help="remote store: its SPARQL Update endpoint")
        p.add_argument("--gsp-url", help="remote store: its Graph Store Protocol endpoint")

    p = sub.add_parser("validate", help="check every data file; build nothing")
    data_arg(p)
    jobs_arg(p)
    max_file_arg(p)

    p = sub.add_parser("build", help="check the data and build a new store, swapped in if good")
    data_arg(p)
    store_arg(p)
    jobs_arg(p)
    max_file_arg(p)
    p.add_argument("--quiet", action="store_true", help="print nothing unless something fails")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable summary (or the errors) as JSON",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="re-read and rewrite everything, not only the files that changed",
    )

    p = sub.add_parser("query", help="run a SPARQL query (a string or a .rq file)")
    p.add_argument("query", help="the query text, or the path of a file holding it")
    p.add_argument(
        "--format",
        default="table",
        help="table (default), or a result format: json, xml, csv, tsv for "
        "SELECT/ASK; turtle, ntriples, nquads, rdfxml, jsonld for "
        "CONSTRUCT/DESCRIBE",
    )
    store_arg(p)

    p = sub.add_parser("serve", help="serve the last good build over HTTP (SPARQL + pages)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    _serve_limits(p, environ)
    store_arg(p)

    p = sub.add_parser("export", help="write the whole knowledge base as RDF, or as a register")
    p.add_argument(
        "--format",
        default="turtle",
        choices=["turtle", "nquads", "jsonld", "trig", "ntriples", "rdfxml", "sipri-csv"],
        help="turtle (default), nquads, jsonld, trig, ntriples, rdfxml, or sipri-csv: the "
        "arms transfers in the column layout of the SIPRI Arms Transfers Database",
    )
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    store_arg(p)

    p = sub.add_parser("check", help="look for trouble in the built knowledge base")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--contradictions",
        action="store_true",
        help="facts where sources disagree, with their sources",
    )
    what.add_argument(
        "--provenance",
        action="store_true",
        help="the share of facts, per kind, whose every value is backed by a citation with a "
        "locator, and the facts that are not; then the same of entities (weapons, actors, "
        "places) apart (read from the data files; no store needed)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    store_arg(p)
    data_arg(p)

    p = sub.add_parser(
        "diff",
        help="facts added, removed and changed between two git "
        "revisions of data/ (the second defaults to the working tree)",
    )
    p.add_argument("old", help="a git revision, e.g. main or HEAD~3")
    p.add_argument("new", nargs="?", help="a git revision (default: the working tree)")
    p.add_argument("--format", choices=["text", "json", "turtle"], default="text")
    data_arg(p)

    p = sub.add_parser("new", help="append a commented skeleton of a new record to a data file")
    p.add_argument(
        "kind",
        help="state, actor (non-state actor), igo (international organisation), source, "
        "territory, organization, weapon, facility, "
        "dispute, transfer, event, cooperation, use, claim, administration, assertion",
    )
    p.add_argument("--id", help="the new record's id (default: a placeholder to replace)")
    p.add_argument(
        "--file",
        type=Path,
        help="the file to append to (default: the file that holds most records of that kind)",
    )
    data_arg(p)

    p = sub.add_parser(
        "import",
        help="import a SIPRI trade register (CSV) or a CAMEO-coded event file (ICEWS, GDELT) "
        "into data/imported/, each fact citing its row",
    )
    p.add_argument(
        "what", choices=["sipri-register", "events"], help="sipri-register, or events"
    )
    p.add_argument("file", type=Path, help="the dataset file: SIPRI's CSV export, or events")
    p.add_argument(
        "--format",
        choices=["icews", "gdelt"],
        help="events: icews (tab-separated with its header) or gdelt (GDELT 1.0, 57 or 58 "
        "columns)",
    )
    p.add_argument(
        "--name",
        default="",
        help="what the import is called (default: sipri, icews or gdelt); importing again "
        "under the same name replaces its facts and reports what changed",
    )
    p.add_argument(
        "--version",
        default="",
        help="the export's version or date, as the dataset names it (default: the file's "
        "modification date)",
    )
    p.add_argument("--encoding", default="utf-8", help="the file's text encoding (default: utf-8)")
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="do not check the result with the build's validation before putting it in "
        "place (for very large files; run 'geokb validate' after)",
    )
    data_arg(p)

    p = sub.add_parser(
        "generate", help="regenerate the derived files: ontology/, docs/, the README's counts"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a generated file is out of date",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``geokb`` command; return its exit status."""
    try:
        parser = build_parser()  # reads GEOKB_* settings from the environment
    except GeokbError as exc:
        print(f"geokb: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return _VERBS[args.verb](args)
    except DataError as exc:
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {
                        "errors": [
                            {
                                "file": p.location.file,
                                "line": p.location.line,
                                "column": p.location.column,
                                "field": p.field,
                                "message": p.message,
                                "hint": p.hint,
                            }
                            for p in exc.problems
                        ]
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
        print(exc.report(), file=sys.stderr)
        return 1
    except GeokbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _validate(args: argparse.Namespace) -> int:
    from kb.build.pipeline import compile_data

    compiled = compile_data(args.data, jobs=args.jobs, max_file_bytes=args.max_file_mb << 20)
    print(
        f"ok: {compiled.records} records in {len(compiled.manifest.files)} files, "
        f"{compiled.triple_count()} triples, 0 SHACL violations"
    )
    return 0


def _target(args: argparse.Namespace) -> Path | RemoteStore:
    """The store named by --store: a local folder, or a remote store by its URLs."""
    if args.store.startswith(("http://", "https://")):
        from kb.stores.remote import RemoteStore  # (rdflib: not imported for a local folder)

        return RemoteStore.from_urls(args.store, args.update_url, args.gsp_url)
    return Path(args.store)


def _build(args: argparse.Namespace) -> int:
    from kb.build import manifest
    from kb.build.pipeline import compile_data
    from kb.errors import StoreDamaged
    from kb.model.schema import GRAPH_BASE
    from kb.stores.local import current_build, damage, write_build
    from kb.stores.remote import RemoteStore

    target = _target(args)
    if isinstance(target, RemoteStore):
        return _build_remote(args, target)
    started = time.monotonic()
    previous = None if args.full else manifest.load(current_build(target))
    damaged = damage(target) if previous is not None else None
    if damaged is not None:
        _recover(damaged)
        previous = None
    with _progress(enabled=not (args.quiet or args.json)) as progress:
        compiled = compile_data(args.data, previous, progress, args.jobs, args.max_file_mb << 20)
        if not compiled.full and not compiled.graphs and not compiled.removed:
            _say(
                args,
                f"up to date: no data file changed since {current_build(target)}",
                {"up_to_date": True, "store": str(current_build(target))},
            )
            return 0
        progress("writing the store", 0, 1)
        try:
            report = write_build(target, compiled)
        except StoreDamaged as exc:  # found only while copying the current build
            if compiled.full:
                raise
            _recover(exc.detail)
            previous = None
            compiled = compile_data(args.data, None, progress, args.jobs, args.max_file_mb << 20)
            report = write_build(target, compiled)
        progress("writing the store", 1, 1)
    before = {e.graph: e.triples for e in previous.files.values()} if previous else {}
    lines = []
    for graph, triples in sorted(report.written.items()):
        name = graph.removeprefix(GRAPH_BASE)
        if graph in before:
            lines.append(f"  {name}: replaced ({before[graph]} -> {triples} triples)")
        elif not report.full:
            lines.append(f"  {name}: added ({triples} triples)")
    for graph in report.removed:
        lines.append(
            f"  {graph.removeprefix(GRAPH_BASE)}: removed ({before.get(graph, 0)} triples)"
        )
    kind = "full build" if report.full else "incremental build"
    lines.append(
        f"built {report.path} ({kind}): {len(report.written)} graphs written "
        f"({report.triples} triples, {compiled.records} records checked), "
        f"{len(report.removed)} removed, {report.kept} unchanged"
    )
    _say(
        args,
        "\n".join(lines),
        {
            "store": str(report.path),
            "full": report.full,
            "records_checked": compiled.records,
            "written": {
                g: {"before": before.get(g), "after": n} for g, n in report.written.items()
            },
            "removed": {g: {"before": before.get(g)} for g in report.removed},
            "unchanged": report.kept,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return 0


def _recover(damage: str) -> None:
    # On stderr, one line, even with --quiet or --json: the store was damaged from outside.
    print(f"the current build is damaged ({damage}); building in full", file=sys.stderr)


def _say(args: argparse.Namespace, text: str, data: dict[str, object]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    elif not getattr(args, "quiet", False):
        print(text)


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    """A progress bar on a terminal (rich), or nothing."""
    if not enabled or not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    from rich.progress import Progress as Bars
    from rich.progress import TaskID

    with Bars(transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update


def _build_remote(args: argparse.Namespace, remote: RemoteStore) -> int:
    """Push a build into a remote store; prints like a local build (--json, --quiet)."""
    from kb.build.pipeline import compile_data
    from kb.model.schema import GRAPH_BASE

    started = time.monotonic()
    remote.require_writable()  # before reading the data: the store must say where to push
    previous = None if args.full else remote.manifest()
    with _progress(enabled=not (args.quiet or args.json)) as progress:
        compiled = compile_data(args.data, previous, progress, args.jobs, args.max_file_mb << 20)
    if not compiled.full and not compiled.graphs and not compiled.removed:
        _say(
            args,
            f"up to date: no data file changed since the last push to {remote.query_url}",
            {"up_to_date": True, "store": remote.query_url},
        )
        return 0
    pushed = remote.push(compiled)
    removed = {str(g) for g in compiled.removed}
    lines = [
        f"  {'removed' if graph in removed else 'pushed'} {graph.removeprefix(GRAPH_BASE)}"
        for graph in pushed
    ]
    kind = "full push" if compiled.full else "incremental push"
    lines.append(
        f"built into {remote.query_url} ({kind}): {len(pushed) - len(removed)} graphs pushed, "
        f"{len(removed)} removed, {compiled.triple_count()} triples; manifest updated"
    )
    _say(
        args,
        "\n".join(lines),
        {
            "store": remote.query_url,
            "full": compiled.full,
            "records_checked": compiled.records,
            "pushed": [g for g in pushed if g not in removed],
            "removed": sorted(removed),
            "triples": compiled.triple_count(),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return 0


def _query(args: argparse.Namespace) -> int:
    from kb.sparql import formats
    from kb.sparql.query import QueryResult, run, serialize, shape_of
    from kb.sparql.table import table
    from kb.stores.local import open_current
    from kb.stores.remote import RemoteStore, remote_answer

    text = args.query
    if text.endswith(".rq") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    target = _target(args)
    result: QueryResult
    if isinstance(target, RemoteStore):
        answered = remote_answer(target, text)
        result = answered.result
        if answered.store_cut:  # the store's own row cap: say so, as /sparql's header does
            print(f"truncated: {answered.store_cut.removeprefix('true; ')}", file=sys.stderr)
    else:
        result = run(open_current(target)[0], text)
    if args.format == "table":
        print(table(result))
        return 0
    shape = shape_of(result)
    fmt = formats.lookup(args.format, shape)
    if fmt is None:
        print(
            f"error: format '{args.format}' does not fit this query; "
            f"use table or one of: {formats.names(shape)}",
            file=sys.stderr,
        )
        return 2
    sys.stdout.buffer.write(serialize(result, fmt))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from api.settings import TABLE, Settings

    target = _target(args)
    settings = Settings(
        store=target if isinstance(target, Path) else DEFAULT_STORE,
        remote=None if isinstance(target, Path) else target,
        **{s.name: getattr(args, s.name) for s in TABLE},
    )
    if settings.processes > 1:
        return _serve_processes(settings, args)
    from api.app import create_app
    from api.http_server import serve

    app = create_app(settings)  # fails here, with a message, if nothing was built
    print(f"geokb: serving {args.store}/current on http://{args.host}:{args.port}/", flush=True)
    serve(app, settings, args.host, args.port)
    return 0


def _serve_processes(settings: Settings, args: argparse.Namespace) -> int:
    """``geokb serve --processes N`` (``api.processes``): the supervisor imports little;
    each server process builds its own app after the fork."""
    from api.processes import listening_sockets, serve_processes
    from kb.stores.current import check_built

    if settings.remote is None:
        check_built(settings.store)  # fails here, with a message, if nothing was built
    socks = listening_sockets(args.host, args.port, settings.processes)
    print(
        f"geokb: serving {args.store}/current on http://{args.host}:{args.port}/ "
        f"({settings.processes} processes)",
        flush=True,
    )
    return serve_processes(socks, settings, args.host, args.port)


def _export(args: argparse.Namespace) -> int:
    import pyoxigraph as ox

    from kb.model.schema import PREFIXES
    from kb.review import sipri
    from kb.stores.local import open_current

    store, _ = open_current(Path(args.store))
    if args.format == "sipri-csv":
        text = sipri.to_csv(sipri.rows(store))
        if args.output:
            args.output.write_text(text, encoding="utf-8", newline="")
        else:
            sys.stdout.write(text)
        return 0
    rdf_format = {
        "turtle": ox.RdfFormat.TURTLE,
        "nquads": ox.RdfFormat.N_QUADS,
        "jsonld": ox.RdfFormat.JSON_LD,
        "trig": ox.RdfFormat.TRIG,
        "ntriples": ox.RdfFormat.N_TRIPLES,
        "rdfxml": ox.RdfFormat.RDF_XML,
    }[args.format]
    out = args.output.open("wb") if args.output else sys.stdout.buffer
    try:
        if rdf_format.supports_datasets:  # the named graphs; the default graph is their union
            named = (q for q in store if not isinstance(q.graph_name, ox.DefaultGraph))
            ox.serialize(named, out, format=rdf_format, prefixes=PREFIXES)
        else:  # a graph format: the union of all graphs, each triple once
            union = store.query(
                "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", use_default_graph_as_union=True
            )
            assert isinstance(union, ox.QueryTriples)
            ox.serialize(union, out, format=rdf_format, prefixes=PREFIXES)
    finally:
        if args.output:
            out.close()
    return 0


def _check(args: argparse.Namespace) -> int:
    if args.provenance:
        from kb.review import provenance

        traced = provenance.report(args.data)
        print(provenance.as_json(traced) if args.json else provenance.as_text(traced))
        return 0
    from kb.review import contradictions
    from kb.stores.local import open_current

    store, _ = open_current(Path(args.store))
    found = contradictions.find(store)
    if args.json:
        print(json.dumps([c.as_dict() for c in found], indent=2, ensure_ascii=False))
    else:
        print(contradictions.report(found))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from kb.review import diff

    data = args.data.resolve()
    repo = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=data.parent, capture_output=True, text=True
        ).stdout.strip()
        or "."
    )
    found = diff.diff(repo, args.old, args.new, data.relative_to(repo.resolve()).as_posix())
    writer = {"text": diff.as_text, "json": diff.as_json, "turtle": diff.as_turtle}
    print(writer[args.format](found))
    return 0


def _new(args: argparse.Namespace) -> int:
    from kb.review.skeleton import add_skeleton

    target, text = add_skeleton(args.data, args.kind, args.id, args.file)
    print(text, end="")
    print(f"appended to {relative(target)}; fill in the fields, then run 'geokb validate'")
    return 0


def _import(args: argparse.Namespace) -> int:
    from kb.imports.run import Request, run
    from kb.review.diff import as_text

    if args.what == "events" and not args.format:
        print("error: events need --format icews or --format gdelt", file=sys.stderr)
        return 2
    request = Request(
        args.what,
        args.file,
        args.data,
        args.format or "",
        args.name,
        args.version,
        args.encoding,
        not args.no_validate,
    )
    summary = run(request, print)
    if summary.changes is not None:
        print(f"changes since the last import ({', '.join(map(relative, summary.replaced))}):")
        print(as_text(summary.changes))
        if summary.changed_total > len(summary.changes.changed):
            print(f"  (field by field for the first {len(summary.changes.changed)} changed)")
    print(summary.text())
    checked = "checked by validation" if summary.validated else "NOT validated"
    print(f"wrote {', '.join(map(relative, summary.written))} ({checked})")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from kb.derive import generate

    stale = generate.write_all(build_parser(environ={}), check=args.check)
    if args.check:
        for path in stale:
            print(f"out of date: {path} (run 'geokb generate')", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        print(f"wrote {path}")
    return 0


_VERBS = {
    "validate": _validate,
    "build": _build,
    "query": _query,
    "serve": _serve,
    "export": _export,
    "generate": _generate,
    "new": _new,
    "check": _check,
    "diff": _diff,
    "import": _import,
}

if __name__ == "__main__":
    raise SystemExit(main())
