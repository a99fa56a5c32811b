"""``geokb new <kind>``: a commented YAML skeleton of a record, appended to the right file.

The skeleton lists every field of the kind from ``kb.model.schema``: required ones left empty (so
``geokb validate`` points at each one until it is filled in), optional ones commented out,
each with what it means and, for references, ids that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from kb.build.pipeline import data_files
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


def skeleton(kind: schema.Kind, record_id: str, known: dict[str, list[str]]) -> str:
    """The YAML lines of a new record of ``kind``."""
    lines = [f"  # A new {kind.label}: {kind.definition}", f"  - id: {record_id}  # {kind.id_hint}"]
    for fld in kind.fields:
        rng = fld.prop.range
        hint = fld.prop.definition
        if isinstance(rng, schema.Ref):
            examples = [
                f"{k}/{i}" if len(rng.kinds) > 1 and k != "state" else i  # 'IRN' is a state
                for k in rng.kinds
                for i in known.get(k, [])[:4]
            ]
            if examples:
                hint += f" E.g. {', '.join(examples)}."
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
    """Append a skeleton for ``kind_name`` to the right file; return the file and the text."""
    kind = kind_named(kind_name)
    target = file or target_file(data_dir, kind)
    known = _ids_in(data_dir)
    if record_id is None:
        base = "new-" + kind.name if kind.name != "state" else "XXX"
        record_id, n = base, 1
        while record_id in known.get(kind.name, []):
            n += 1
            record_id = f"{base}-{n}"
    text = skeleton(kind, record_id, known)
    existing = target.read_text(encoding="utf-8") if target.exists() else ""
    if not re.search(rf"^{kind.section}:", existing, re.MULTILINE):
        text = f"{kind.section}:\n{text}"
    elif not _section_is_last(existing, kind.section):
        raise GeokbError(
            f"{target}: the '{kind.section}:' section is not the last in the file, so a "
            "record cannot be appended to it; give --file, or move the section to the end"
        )
    separator = "" if not existing or existing.endswith("\n") else "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as f:
        f.write(separator + ("\n" if existing else "") + text)
    return target, text


def _section_is_last(text: str, section: str) -> bool:
    headers = re.findall(r"^([a-z_]+):", text, re.MULTILINE)
    return bool(headers) and headers[-1] == section
