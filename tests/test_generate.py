import shutil
from pathlib import Path

import pytest

from kb.cli import build_parser
from kb.derive.generate import ROOT, readme_text, record_counts, write_all


def test_generated_files_are_up_to_date() -> None:
    stale = write_all(build_parser(environ={}), check=True)
    assert stale == [], f"run 'geokb generate': stale {stale}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the generator reads and writes."""
    for name in ("data", "docs", "ontology"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def test_stale_docs_and_counts_are_reported_then_rewritten(tree: Path) -> None:
    parser = build_parser(environ={})
    (tree / "docs" / "cli.md").write_text("old help\n", encoding="utf-8")
    (tree / "docs" / "queries.md").unlink()
    readme = tree / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("| `arms_transfers:` |", "| `arms_transfers:` |\n| 1 |"))
    sources = record_counts(tree / "data")["source"]
    (tree / "data" / "more.yaml").write_text(
        "sources:\n  - id: one-more-source\n    title: One more\n    publisher: Someone\n",
        encoding="utf-8",
    )

    wanted = [tree / "docs" / "cli.md", tree / "docs" / "queries.md", readme]
    assert write_all(parser, check=True, root=tree) == wanted
    assert (tree / "docs" / "cli.md").read_text(encoding="utf-8") == "old help\n"  # untouched

    assert write_all(parser, root=tree) == wanted
    assert write_all(parser, check=True, root=tree) == []
    assert f"| {sources + 1:,} | sources | `sources:` |" in readme.read_text(encoding="utf-8")


def test_readme_without_counts_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="BEGIN counts"):
        readme_text("# geokb\n", ROOT / "data")
