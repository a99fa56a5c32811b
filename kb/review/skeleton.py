"""``geokb new <kind>``: a commented YAML skeleton of a record, added to the right file.

The skeleton lists every field of the kind from ``kb.model.schema``: required ones left empty (so
``geokb validate`` points at each one until it is filled in), optional ones commented out,
each with what it means and, for references, ids that exist.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

from kb.build.pipeline import data_files
from kb.build.records import PLACEHOLDER_IDS, is_placeholder
from kb.errors import GeokbError
from kb.model import schema


class UnknownKind(GeokbError):
    """``geokb new`` was asked for a kind that does not exist."""


def kind_named(name: str) -> schema.Kind:
    """The kind called ``name`` (its name or its YAML section)."""
    kind = schema.KINDS_BY_NAME.get(name) or schema.KINDS_BY_SECTION.get(name)
    if kind is None:
        names = ", ".join(k.name for k in schema.KINDS)
        raise UnknownKind(f"no kind '{name}'; kinds: {names}")
    return kind


def _ids_in(data_dir: Path) -> dict[str, list[str]]:
    # A light scan of 'section:' headers and '- id:' lines: enough to suggest ids, and it
    # works while the data is half-edited and would not validate.
    ids: dict[str, list[str]] = {}
    for path in data_files(data_dir):
        section = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := re.match(r"^([a-z_]+):\s*$", line):
                section = m.group(1)
            elif section and (m := re.match(r"^\s*-\s*\{?\s*id:\s*([^\s,}]+)", line)):
                kind = schema.KINDS_BY_SECTION.get(section)
                if kind is not None:
                    ids.setdefault(kind.name, []).append(m.group(1).strip("'\""))
    return ids


_FIELD_LINE = re.compile(r"^\s*(?:-\s+)?([a-z_]+):\s*([^#]*?)\s*(?:#.*)?$")


def _uses_in(data_dir: Path) -> dict[str, Counter[str]]:
    """How often each value is written in each field ('supplier' → IRN: 12, RUS: 3), from the
    same light scan: one-line values and flow lists ('[a, b]') only."""
    uses: dict[str, Counter[str]] = {}
    for path in data_files(data_dir):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _FIELD_LINE.match(line)
            if m is None or not m.group(2) or m.group(1) == "id":
                continue
            values = m.group(2).removeprefix("[").removesuffix("]").split(",")
            counter = uses.setdefault(m.group(1), Counter())
            counter.update(v.strip().strip("'\"") for v in values if v.strip())
    return uses


#: States named as examples when the data says nothing better (none yet uses the field).
WELL_KNOWN_STATES = ("USA", "RUS", "CHN", "IRN", "GBR", "FRA")


def examples(
    key: str,
    rng: schema.Ref,
    known: dict[str, list[str]],
    uses: dict[str, Counter[str]],
    n: int = 4,
) -> list[str]:
    """Up to ``n`` ids for the field ``key``: those already written in that field, most used
    first (for 'supplier', the states that supply); then those most referred to anywhere;
    for states, then well-known ones. Only ids that exist; the kind is written before an id
    only where the id alone would be ambiguous."""
    kind_of: dict[str, list[str]] = {}
    for k in rng.kinds:
        for i in known.get(k, []):
            kind_of.setdefault(i, []).append(k)
    out: list[str] = []

    def add(value: str) -> None:
        kind, _, bare = value.rpartition("/")
        if kind and kind not in rng.kinds:
            return
        kinds = [kind] if kind else kind_of.get(bare, [])
        if not kinds or (kind and bare not in known.get(kind, [])):
            return
        shown = f"{kinds[0]}/{bare}" if len(kind_of.get(bare, [])) > 1 else bare
        if shown not in out and len(out) < n:
            out.append(shown)

    for value, _ in uses.get(key, Counter()).most_common():
        add(value)
    everywhere: Counter[str] = Counter()
    for field_key, counter in uses.items():
        if field_key in _ref_keys():
            everywhere.update(counter)
    for value, _ in everywhere.most_common():
        if len(out) >= n:
            break
        add(value)
    if "state" in rng.kinds:
        for code in WELL_KNOWN_STATES:
            add(code)
    return out


@cache
def _ref_keys() -> frozenset[str]:
    """The keys of every field that refers to records."""
    fields = [f for k in schema.KINDS for f in k.fields]
    fields += [f for s in schema.STRUCTURES for f in s.fields]
    return frozenset(f.key for f in fields if isinstance(f.prop.range, schema.Ref))


def target_file(data_dir: Path, kind: schema.Kind) -> Path:
    """The file a new record goes into: the one holding most of its kind, else a new one."""
    counts = {}
    for path in data_files(data_dir):
        text = path.read_text(encoding="utf-8", errors="replace")
        if re.search(rf"^{kind.section}:", text, re.MULTILINE):
            counts[path] = len(re.findall(r"^\s*-\s*\{?\s*id:", text, re.MULTILINE))
    if counts:
        return max(counts, key=lambda p: counts[p])
    return data_dir / f"{kind.section.replace('_', '-')}.yaml"


def placeholder_id(kind: schema.Kind) -> str:
    """The id a skeleton is given until the curator replaces it: one the kind's id pattern
    accepts, so nothing else complains, and that validation refuses ('replace the
    placeholder id')."""
    return next(p for p in PLACEHOLDER_IDS if kind.id_matches(p))


def skeleton(
    kind: schema.Kind,
    record_id: str,
    known: dict[str, list[str]],
    uses: dict[str, Counter[str]] | None = None,
) -> str:
    """The YAML lines of a new record of ``kind``."""
    placeholder = "replace the placeholder id: " if is_placeholder(record_id) else ""
    lines = [
        f"  # A new {kind.label}: {kind.definition}",
        f"  - id: {record_id}  # {placeholder}{kind.id_hint}",
    ]
    for fld in kind.fields:
        rng = fld.prop.range
        hint = fld.prop.definition
        if isinstance(rng, schema.Ref):
            shown = examples(fld.key, rng, known, uses or {})
            if shown:
                hint += f" E.g. {', '.join(shown)}."
        elif isinstance(rng, schema.Date):
            hint += " YYYY, YYYY-MM or YYYY-MM-DD."
        elif isinstance(rng, schema.Choice):
            hint += f" One of: {', '.join(o.key for o in rng.options)}."
        field = f"{fld.key}: []" if fld.many else f"{fld.key}:"
        if fld.required:
            lines.append(f"    {field}  # required. {hint}")
        else:
            lines.append(f"    # {field}  # {hint}")
    return "\n".join(lines) + "\n"


def add_skeleton(
    data_dir: Path, kind_name: str, record_id: str | None = None, file: Path | None = None
) -> tuple[Path, str]:
    """Add a skeleton for ``kind_name`` to the right file, at the end of its section wherever
    that is in the file; return the file and the text."""
    kind = kind_named(kind_name)
    target = file or target_file(data_dir, kind)
    known = _ids_in(data_dir)
    if record_id is None:
        base = placeholder_id(kind)
        record_id, n = base, 1
        while record_id in known.get(kind.name, []) and base != "XXX":
            n += 1
            record_id = f"{base}-{n}"
    text = skeleton(kind, record_id, known, _uses_in(data_dir))
    existing = target.read_text(encoding="utf-8") if target.exists() else ""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(insert(existing, kind.section, text, target), encoding="utf-8")
    return target, text


def insert(existing: str, section: str, text: str, target: Path | str = "the file") -> str:
    """``existing`` with the record lines ``text`` added at the end of ``section``: after
    its last record, before any blank lines and comments that lead into the next section."""
    lines = existing.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    header = next(
        (i for i, line in enumerate(lines) if re.match(rf"{section}:(\s|#|$)", line)), None
    )
    if header is None:
        return "".join(lines) + ("\n" if lines else "") + f"{section}:\n{text}"
    value = lines[header][len(section) + 1 :].split("#")[0].strip()
    if value in ("[]", "~", "null"):
        lines[header] = f"{section}:\n"  # an empty section, written inline
    elif value:
        raise GeokbError(
            f"{target}: the '{section}:' section is written on one line ({value[:20]}); "
            "write its records as a block list ('  - id: ...'), then run 'geokb new' again"
        )
    end = header + 1  # after the section's last indented line
    for i in range(header + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "#", "-")):
            break  # the next section
        if line.strip() and not line.lstrip().startswith("#"):
            end = i + 1
    blank = "\n" if end > header + 1 else ""
    return "".join(lines[:end]) + blank + text + "".join(lines[end:])
