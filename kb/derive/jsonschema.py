"""A JSON Schema of the YAML data format, derived from ``kb.model.schema`` (never written by hand).

``geokb generate`` writes it to ``ontology/geokb-data.schema.json``. Editors use it to check
and complete entries as one types (VS Code's YAML extension: see the README). It describes
what a YAML 1.2 editor sees: ``2022`` is a number there, ``2022-10`` a string.
"""

from __future__ import annotations

import json
from typing import Any

from kb.model import schema

SCHEMA_ID = "https://w3id.org/geokb/schema/data.json"
_DATE = r"^-?\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"
_DAY = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"


def _value(rng: schema.Range, description: str) -> dict[str, Any]:
    if isinstance(rng, schema.Text):
        out: dict[str, Any] = {"type": "string", "minLength": 1}
        if rng.pattern:
            out["pattern"] = f"^{rng.pattern}$"
    elif isinstance(rng, schema.LangText):
        out = {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$"},
                    "additionalProperties": {"type": "string", "minLength": 1},
                },
            ]
        }
    elif isinstance(rng, schema.Integer):
        out = {"type": "integer", "minimum": 0}
    elif isinstance(rng, schema.Boolean):
        out = {"type": "boolean"}
    elif isinstance(rng, schema.Date) and rng.day:
        out = {"type": "string", "pattern": _DAY}
        description += " Write YYYY-MM-DD."
    elif isinstance(rng, schema.Point):
        out = {
            "type": "array",
            "prefixItems": [
                {"type": "number", "minimum": -90, "maximum": 90},
                {"type": "number", "minimum": -180, "maximum": 180},
            ],
            "minItems": 2,
            "maxItems": 2,
        }
        description += " Write [latitude, longitude] in decimal degrees."
    elif isinstance(rng, schema.Nested):
        out = {"$ref": f"#/$defs/{rng.structure}"}
    elif isinstance(rng, schema.FieldName):
        out = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
        description += " The YAML key of one of the record's value fields."
    elif isinstance(rng, schema.Date):
        out = {
            "anyOf": [
                {"type": "string", "pattern": _DATE},
                {"type": "integer", "minimum": 1, "maximum": 9999},
            ]
        }
        description += " Write YYYY, YYYY-MM or YYYY-MM-DD, at the precision known."
    elif isinstance(rng, schema.Url):
        out = {"type": "string", "pattern": "^https?://"}
    elif isinstance(rng, schema.Choice):
        out = {"enum": [o.key for o in rng.options]}
        labels = "; ".join(f"{o.key}: {o.label}" for o in rng.options)
        description += f" One of: {labels}."
    else:
        kinds = " or ".join(rng.kinds)
        # 'id' or 'kind/id', the kind one this field may refer to (as the loader checks)
        out = {
            "type": "string",
            "minLength": 1,
            "pattern": f"^(({'|'.join(rng.kinds)})/)?[^/\\s]+$",
        }
        description += f" The id of a {kinds}" + (
            f" (a bare id names a record of whichever of these kinds has it; write "
            f"kind/id, e.g. '{rng.kinds[1]}/<id>', where two kinds have it)."
            if len(rng.kinds) > 1
            else "."
        )
    out["description"] = description
    return out


def _field(fld: schema.Field) -> dict[str, Any]:
    one = _value(fld.prop.range, fld.prop.definition)
    if not fld.many:
        return one
    return {
        "description": one["description"],
        "anyOf": [
            one,
            {"type": "array", "minItems": 1, "items": one},
        ],
    }


def data_schema() -> dict[str, Any]:
    """The JSON Schema of a geokb data file."""
    defs: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for kind in schema.KINDS:
        properties = {
            "id": {
                "type": "string",
                "pattern": f"^{kind.id_pattern}$",
                "description": f"The record's id: {kind.id_hint}.",
            }
        }
        properties.update({f.key: _field(f) for f in kind.fields})
        defs[kind.name] = {
            "title": kind.label,
            "description": kind.definition,
            "type": "object",
            "additionalProperties": False,
            "required": ["id", *(f.key for f in kind.fields if f.required and not f.alternative)],
            "properties": properties,
        }
        either = [
            {"anyOf": [{"required": [f.key]}, {"required": [f.alternative]}]}
            for f in kind.fields
            if f.required and f.alternative
        ]
        if either:
            defs[kind.name]["allOf"] = either
        sections[kind.section] = {
            "description": f"A list of {kind.label} records.",
            "type": ["array", "null"],
            "items": {"$ref": f"#/$defs/{kind.name}"},
        }
    for structure in schema.STRUCTURES:
        defs[structure.name] = {
            "title": structure.label,
            "description": structure.definition,
            "type": "object",
            "additionalProperties": False,
            "required": [f.key for f in structure.fields if f.required],
            "properties": {f.key: _field(f) for f in structure.fields},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "geokb data file",
        "description": "A YAML file of curated geokb facts: sections of records. "
        "Generated from kb/schema.py by 'geokb generate'.",
        "type": "object",
        "additionalProperties": False,
        "properties": sections,
        "$defs": defs,
    }


def data_schema_text() -> str:
    """The JSON Schema as the text of ontology/geokb-data.schema.json."""
    return json.dumps(data_schema(), indent=2, ensure_ascii=False) + "\n"
