"""The docs say what the code and the data hold: counts, verbs, flags, kinds, formats, example
queries and links are checked here against the real thing, so that the prose cannot drift."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

import pytest

from kb.build.pipeline import compile_data, data_files
from kb.cli import build_parser
from kb.model import schema
from kb.sparql.examples import examples
from kb.sparql.formats import FORMATS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CLI_MD = DOCS / "cli.md"
QUERIES_MD = DOCS / "queries.md"
EXAMPLES = ROOT / "kb" / "sparql" / "examples"
# Every Markdown file a reader is sent to; the generated ones are checked as well.
MARKDOWN = [README, ROOT / "bench" / "README.md", *sorted(DOCS.glob("*.md"))]
# Hand-written prose about the data: no count of records may be typed into it.
HAND_WRITTEN = [README, *(p for p in sorted(DOCS.glob("*.md")) if p not in (CLI_MD, QUERIES_MD))]

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_GENERATED = re.compile(r"<!-- BEGIN (\w+) -->\n.*?<!-- END \1 -->", re.DOTALL)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _section(text: str, name: str) -> str:
    m = re.search(rf"<!-- BEGIN {name} -->\n(.*?)<!-- END {name} -->", text, re.DOTALL)
    assert m is not None, f"README.md has no '<!-- BEGIN {name} -->' section"
    return m.group(1)


@pytest.fixture(scope="module")
def data_counts() -> Counter[str]:
    """Records of each kind (by YAML section) in data/, as the build reads them."""
    compiled = compile_data(ROOT / "data", jobs=1)
    kinds = Counter(k for e in compiled.manifest.files.values() for k, _ in e.id_keys())
    return Counter({schema.KINDS_BY_NAME[k].section: n for k, n in kinds.items()})


def test_readme_is_read_in_five_minutes() -> None:
    lines = _text(README).splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move detail to docs/"


def test_readme_counts_are_the_data(data_counts: Counter[str]) -> None:
    section = _section(_text(README), "counts")
    rows = re.findall(r"^\| ([\d,]+) \| [^|]+ \| `(\w+):` \|$", section, re.MULTILINE)
    stated = {sec: int(n.replace(",", "")) for n, sec in rows}
    assert stated == {k.section: data_counts[k.section] for k in schema.KINDS}
    total = re.search(r"^([\d,]+) records in (\d+) files", section, re.MULTILINE)
    assert total is not None
    assert int(total.group(1).replace(",", "")) == sum(data_counts.values())
    assert int(total.group(2)) == len(data_files(ROOT / "data"))


def _plurals() -> list[str]:
    words = set()
    for kind in schema.KINDS:
        label = kind.label
        words |= {label, re.sub(r"y$", "ie", label) + "s", label + "s", kind.section}
        words |= {kind.name + "s", re.sub(r"y$", "ie", kind.name) + "s"}
    return sorted(words, key=len, reverse=True)


def test_no_count_of_records_is_written_by_hand() -> None:
    """'33 disputes' typed into prose goes stale when the data changes: counts come only from
    the README's generated section."""
    nouns = "|".join(re.escape(w).replace("_", "[_ ]") for w in _plurals())
    # a number, then at most two words (e.g. "UN member", "territorial"), then a kind
    count = re.compile(rf"\b\d[\d,]*\s+(?:[\w-]+\s+){{0,2}}?(?:{nouns})\b", re.IGNORECASE)
    for path in HAND_WRITTEN:
        prose = _FENCE.sub("", _GENERATED.sub("", _text(path)))
        found = count.findall(prose)
        assert not found, f"{path.relative_to(ROOT)} counts records by hand: {found}"


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(environ={})
    assert parser._subparsers is not None
    verbs: dict[str, argparse.ArgumentParser] = {}
    for action in parser._subparsers._group_actions:
        verbs.update(getattr(action, "choices", {}))
    return verbs


def _cli_section(verb: str) -> str:
    text = _text(CLI_MD)
    m = re.search(rf"^## geokb {verb}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert m is not None, f"docs/cli.md has no section for 'geokb {verb}'"
    return m.group(1)


def test_cli_doc_has_every_verb() -> None:
    verbs = _verbs()
    assert verbs
    for verb in verbs:
        assert f"$ geokb {verb} --help" in _cli_section(verb)


def test_cli_doc_has_every_serve_flag() -> None:
    serve = _verbs()["serve"]
    section = _cli_section("serve")
    flags = [s for a in serve._actions for s in a.option_strings]
    assert "--timeout" in flags and "--cache-mb" in flags
    for flag in flags:
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", section), flag


def test_new_help_names_every_kind() -> None:
    """The kinds 'geokb new' takes are the model's kinds, no more, no fewer."""
    section = _cli_section("new")
    for kind in schema.KINDS:
        assert re.search(rf"\b{kind.name}\b", section), f"'geokb new' help omits {kind.name}"


def test_query_help_names_every_format() -> None:
    section = _cli_section("query")
    for fmt in FORMATS:
        assert re.search(rf"\b{fmt.name}\b", section), f"'geokb query' help omits {fmt.name}"


def test_queries_doc_has_every_example() -> None:
    text = _text(QUERIES_MD)
    files = sorted(EXAMPLES.glob("*.rq"))
    assert files
    for rq in files:
        assert f"(../kb/sparql/examples/{rq.name})" in text, rq.name
    for ex in examples():
        assert ex.query.strip() in text, f"{ex.name}: docs/queries.md shows another query"


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    heads = re.findall(r"^#+ (.+)$", _FENCE.sub("", _text(path)), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_that_exist(doc: Path) -> None:
    assert doc.exists(), doc
    for target in _LINK.findall(_FENCE.sub("", _text(doc))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # an absolute URL, or a place in the same file
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve()
        assert path.exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{doc.relative_to(ROOT)}: no #{anchor} in {file}"


def test_readme_links_every_doc() -> None:
    readme = _text(README)
    for doc in [*sorted(DOCS.glob("*.md")), DOCS / "ontology.html", ROOT / "bench" / "README.md"]:
        assert f"]({doc.relative_to(ROOT).as_posix()})" in readme, f"README omits {doc.name}"


def _defaults() -> dict[str, object]:
    """Each option's default, by flag (a flag several verbs share has one default)."""
    return {
        flag: action.default
        for sub in _verbs().values()
        for action in sub._actions
        for flag in action.option_strings
    }


def test_defaults_stated_in_prose_are_the_parsers() -> None:
    """'`--timeout`, 30 s' or '`--max-connections` (4 000)' in hand-written docs: the number is
    the flag's default, or the prose has drifted from the code."""
    stated = re.compile(r"`(--[a-z-]+)`(?:,\s+|\s+\(|,\s+default\s+)(\d[\d ]*\d|\d)\b")
    defaults = _defaults()
    seen = []
    for path in HAND_WRITTEN:
        for flag, number in stated.findall(_text(path)):
            assert flag in defaults, f"{path.relative_to(ROOT)}: no option {flag}"
            value = float(number.replace(" ", ""))
            assert float(str(defaults[flag])) == value, (
                f"{path.relative_to(ROOT)}: {flag} {number}, but its default is {defaults[flag]}"
            )
            seen.append(flag)
    assert "--timeout" in seen and "--max-connections" in seen
