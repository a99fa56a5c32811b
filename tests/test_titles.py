"""The titles of records without a name (kb.model.titles), which pages, /names, search results
and lists all show: what they read and how far they look."""

from __future__ import annotations

from itertools import product

from kb.model import schema, titles


def test_a_title_reads_only_the_fields_its_kind_lists() -> None:
    # the search index reads only these fields' triples from a build: a title reading another
    # would be composed differently there than on the record's page
    for kind, keys in titles.KEYS.items():
        read: set[str] = set()
        for filled in product((False, True), repeat=len(keys)):
            given = {k for k, f in zip(keys, filled, strict=True) if f}

            def names(key: str, given: set[str] = given, read: set[str] = read) -> str:
                read.add(key)
                return key if key in given else ""

            titles.compose(kind, names)
        assert read == set(keys), kind


def _record(kind: str, record_id: str) -> str:
    return f"{schema.ID_BASE}{kind}/{record_id}"


def test_a_record_is_called_by_its_fields_two_steps_deep_then_by_its_kind_and_id() -> None:
    names = {_record("state", "IRN"): "Iran", _record("state", "RUS"): "Russia"}
    stance = str(schema.GK) + "Denied"
    transfer, first, second = (
        _record("transfer", "t1"),
        _record("assertion", "a1"),
        _record("assertion", "a2"),
    )
    values: dict[tuple[str, str], list[titles.Value]] = {
        (transfer, "supplier"): [(_record("state", "IRN"), True)],
        (transfer, "recipient"): [(_record("state", "RUS"), True)],
        (first, "asserted_by"): [(_record("state", "IRN"), True)],
        (first, "stance"): [(stance, True)],
        (first, "about"): [(transfer, True)],
        (second, "about"): [(first, True)],
    }
    composer = titles.Titles(
        lambda iri: {**names, stance: "denied"}.get(iri, ""),
        lambda iri, kind, key: values.get((iri, key), []),
    )
    assert composer.title(transfer) == "Iran → Russia (arms transfer)"
    assert composer.title(first) == "Iran denied: Iran → Russia (arms transfer)"
    # the transfer is two steps from the second assertion: called by its kind and id there
    assert composer.title(second) == "Iran denied: arms transfer t1"
    assert composer.title(transfer) == "Iran → Russia (arms transfer)"  # whatever came first
    assert composer.title(transfer + "#citation-1") == "citation 1 of Iran → Russia (arms transfer)"


def test_a_node_goes_by_its_english_label_then_a_title_then_a_label_in_another_language() -> None:
    label, title = titles.LABEL, titles.TITLE
    assert titles.best_name([(label, "Россия", "ru"), (label, "Russia", "en")]) == "Russia"
    assert titles.best_name([(label, "Россия", "ru"), (title, "A report", "")]) == "A report"
    assert titles.best_name([(title, "Un rapport", "fr"), (label, "Россия", "ru")]) == "Россия"
    assert titles.best_name([]) == ""
