"""HTTP content negotiation over the one format table (``kb.sparql.formats``)."""

from __future__ import annotations

from kb.errors import GeokbError
from kb.sparql import formats
from kb.sparql.formats import Format, ResultShape


class NotAcceptable(GeokbError):
    """No format the client accepts can carry this result."""

    http_status = 406


#: Media ranges of an Accept header read; the rest are ignored. Browsers send about ten;
#: 6,000 cost the server's one thread 10 ms a request (choose() is quadratic in them).
MAX_MEDIA_RANGES = 64


def parse_accept(header: str) -> list[tuple[str, float]]:
    """Media ranges of an Accept header (its first MAX_MEDIA_RANGES) with their q-values,
    best first (stable)."""
    ranges: list[tuple[str, float, int]] = []
    for index, part in enumerate(header.split(",", MAX_MEDIA_RANGES)[:MAX_MEDIA_RANGES]):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media, max(0.0, min(q, 1.0)), index))
    # more specific ranges win ties (text/turtle before text/* before */*)
    ranges.sort(key=lambda r: (-r[1], r[0].count("*"), r[2]))
    return [(m, q) for m, q, _ in ranges]


class ConflictingFormats(GeokbError):
    """``format=`` was given several times, naming different formats."""

    http_status = 400


def choose(
    shape: ResultShape, accept: str | None, format_param: str | list[str] | None
) -> Format:
    """The format for a result of ``shape``: ``format=`` first, then Accept, then the default.

    ``format_param`` may be every ``format=`` value of the request: clients repeat it with
    one format's names (SPARQLWrapper sends ``format=rdf+xml&format=application/rdf+xml``,
    and a comma list such as ``application/ld+json,application/x-json+ld``). The values count
    as one when all the names this endpoint knows among them name the same format.
    """
    candidates = formats.for_shape(shape)
    values = [format_param] if isinstance(format_param, str) else list(format_param or [])
    values = [v for v in values if v.strip()]
    if values:
        return _asked_format(shape, values)
    if not accept:
        return candidates[0]
    ranges = parse_accept(accept)
    refused = {media for media, q in ranges if q <= 0}
    for media, q in ranges:
        if q <= 0:
            continue
        for fmt in candidates:
            if _matches(media, fmt) and not any(_matches(r, fmt) for r in refused if "*" not in r):
                return fmt
    shown = accept if len(accept) <= 200 else accept[:200] + "..."
    raise NotAcceptable(
        f"none of the accepted media types ({shown}) can carry this result; this endpoint "
        f"offers: {', '.join(f.media_type for f in candidates)}"
    )


def _asked_format(shape: ResultShape, values: list[str]) -> Format:
    """The one format the ``format=`` values name (see :func:`choose`)."""
    named: list[Format] = []
    for value in values:  # a value's first name this endpoint knows is the one it means
        found = next((f for part in value.split(",") if (f := formats.lookup(part, shape))), None)
        if found is not None and found not in named:
            named.append(found)
    if not named:
        shown = ", ".join(repr(v) for v in values)
        raise NotAcceptable(
            f"format {shown} cannot carry this result; use one of: {formats.names(shape)}"
        )
    if len(named) > 1:
        raise ConflictingFormats(
            f"format= is {', '.join(repr(v) for v in values)}, naming different formats "
            f"({', '.join(f.name for f in named)}); give one"
        )
    return named[0]


def _matches(media: str, fmt: Format) -> bool:
    if media in ("*/*", "*"):
        return True
    if media.endswith("/*"):
        return fmt.media_type.startswith(media[:-1])
    return media in formats.names_of(fmt)


def wants_html(accept: str | None, default: bool = False) -> bool:
    """Whether a browser asked: text/html ranks above every other specific media type in
    Accept (wildcards and application/xml, which browsers add, do not count against it).
    ``default`` answers a client that states no specific type (no Accept, or only */*).
    Every route that serves both people and programs asks this one question."""
    specific = False
    for media, q in parse_accept(accept or ""):
        if q <= 0:
            continue
        if media in ("text/html", "application/xhtml+xml"):
            return True
        if media != "*/*" and not media.endswith("/*") and media != "application/xml":
            return False
        specific = specific or media != "*/*"
    return default and not specific
