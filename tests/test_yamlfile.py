from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.build.yamlfile import Loader, _check_plain, read_yaml
from kb.errors import DataError, Problem


def _problems(path: Path) -> list[str]:
    with pytest.raises(DataError) as info:
        read_yaml(path)
    return [str(p) for p in info.value.problems]


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("states:\n  - id: IRN\n    label: Iran\n    label: Persia\n")
    [problem] = _problems(f)
    assert problem.startswith(f"{f.name}:4:5: label: duplicate key (first given on line 3)") or (
        ":4:5: label: duplicate key (first given on line 3)" in problem
    )


def test_tab_indentation_says_use_spaces(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("states:\n\t- id: IRN\n")
    [problem] = _problems(f)
    assert ":2:1: YAML syntax error" in problem
    assert "indent with spaces, not tabs" in problem


def test_alias_bomb_is_refused_without_expanding(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    problems = _problems(f)
    assert problems
    assert all("aliases" in p for p in problems)


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_bytes(b"states:\n  - id: IRN\n    label: Ir\xe1n\n")
    [problem] = _problems(f)
    assert ":3:14: byte 0xe1 is not valid UTF-8" in problem
    assert "save the file as UTF-8" in problem


def test_directory_instead_of_file(tmp_path: Path) -> None:
    d = tmp_path / "dir.yaml"
    d.mkdir()
    [problem] = _problems(d)
    assert "is a directory" in problem


def test_comment_only_file_reads_as_nothing(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("# nothing yet\n")
    assert read_yaml(f) is None


KEYS = st.sampled_from(["id", "label", "a", "b", "? x", "1"])
SCALARS = st.sampled_from(["IRN", "'q'", '"2022"', "", "[x, y]", "{}"])
DOCS = st.recursive(
    st.one_of(SCALARS),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda items: ("seq", items)),
        st.lists(st.tuples(KEYS, inner), min_size=1, max_size=4).map(lambda kv: ("map", kv)),
    ),
    max_leaves=12,
)


def _render(node: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(node, str):
        return f" {node}\n"
    kind, items = node  # type: ignore[misc]
    lines = "\n"
    for item in items:
        if kind == "seq":
            lines += f"{pad}-{_render(item, indent + 2)}"
        else:
            key, value = item
            lines += f"{pad}{key}:{_render(value, indent + 2)}"
    return lines


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(KEYS, DOCS), min_size=1, max_size=4))
def test_the_quick_walk_finds_what_the_full_walk_finds(root: list[tuple[str, object]]) -> None:
    # without '*' or '<<' in the text, only mappings are walked: same problems either way
    text = "".join(f"{key}:{_render(value, 2)}" for key, value in root)
    tree = yaml.compose(text, Loader=Loader)
    quick: list[Problem] = []
    full: list[Problem] = []
    _check_plain("f.yaml", tree, quick, aliases=False)
    _check_plain("f.yaml", tree, full, aliases=True)
    assert sorted(quick) == sorted(full)
