"""The geokb data model, written once.

Every other description of the model is derived from this module: the YAML reader checks
records against it, the mapping turns records into RDF with it, and ``geokb generate`` writes
the OWL ontology (``ontology/geokb.ttl``) and the SHACL shapes (``ontology/shapes.ttl``) from
it. A test fails when a generated file is stale.

Why Python and not LinkML or the ontology itself: the YAML format needs facts the ontology
does not hold (YAML keys, id patterns, hints for people), and typed Python tables are read by
the loader at no start-up cost. The IRIs here are a public contract: never rename one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rdflib import DCTERMS, OWL, RDFS, XSD, Namespace, URIRef

# The prefixes preset for queries, pages and serialisations: plain strings in their own
# module, so that query workers need not import rdflib.
from kb.model.prefixes import PREFIXES as PREFIXES

GK = Namespace("https://w3id.org/geokb/ontology#")
SCHEMA = Namespace("https://schema.org/")
#: OGC GeoSPARQL: a place's geometry (geo:hasGeometry) and its WKT text (geo:asWKT).
GEO = Namespace("http://www.opengis.net/ont/geosparql#")
GEO_ONTOLOGY = URIRef("http://www.opengis.net/ont/geosparql")
ID_BASE = "https://w3id.org/geokb/id/"
GRAPH_BASE = "https://w3id.org/geokb/graph/"
ONTOLOGY_IRI = URIRef("https://w3id.org/geokb/ontology")
ONTOLOGY_GRAPH = URIRef(GRAPH_BASE + "ontology")


# --- value ranges -----------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A plain string literal (xsd:string)."""

    pattern: str | None = None
    pattern_hint: str = ""


@dataclass(frozen=True)
class LangText:
    """A language-tagged string: a YAML string (English) or a mapping of language to text."""


@dataclass(frozen=True)
class Integer:
    """A non-negative xsd:integer."""


@dataclass(frozen=True)
class Boolean:
    """An xsd:boolean."""


@dataclass(frozen=True)
class Date:
    """A date at the precision known: xsd:gYear, xsd:gYearMonth or xsd:date; with ``day``,
    only a full xsd:date (YYYY-MM-DD), e.g. the day a web page was read."""

    day: bool = False

    @property
    def datatypes(self) -> tuple[URIRef, ...]:
        """The XSD datatypes a value may have."""
        return (XSD.date,) if self.day else DATE_TYPES


@dataclass(frozen=True)
class Url:
    """An absolute http(s) URL, stored as an IRI."""


@dataclass(frozen=True)
class Option:
    """One allowed value of a Choice: its YAML spelling and the IRI (in gk:) it maps to."""

    key: str
    local: str
    label: str
    definition: str = ""
    notation: str | None = None  # a code in an outside scheme, e.g. CAMEO '114'


@dataclass(frozen=True)
class Choice:
    """One value out of a fixed list, stored as a named individual of class ``gk:{cls_name}``."""

    cls_name: str
    definition: str
    options: tuple[Option, ...]

    def option(self, key: str) -> Option | None:
        """The option spelled ``key`` in YAML, if any."""
        return next((o for o in self.options if o.key == key), None)


@dataclass(frozen=True)
class Ref:
    """A reference to another record by id; ``kinds`` are the kinds it may point to."""

    kinds: tuple[str, ...]


@dataclass(frozen=True)
class FieldName:
    """The YAML key of a value field of the record a nested part belongs to (e.g.
    ``delivery_start_date``), stored as the IRI of that field's property (gk:deliveryStartDate)."""


@dataclass(frozen=True)
class Nested:
    """A record nested inside another, written as a YAML mapping (a citation inside a fact).

    In RDF each is a node of class ``structure.cls`` with an IRI minted under its record's IRI:
    ``<record-iri>#{structure.name}-{n}``, n counting from 1 in the order written."""

    structure: str  # the name of a Structure in STRUCTURES


@dataclass(frozen=True)
class Point:
    """A WGS84 point written as Wikidata shows a coordinate, ``[latitude, longitude]`` in
    decimal degrees, stored as GeoSPARQL WKT, longitude first:
    ``"POINT(lon lat)"^^geo:wktLiteral``."""


Range = Point | Text | LangText | Integer | Boolean | Date | Url | Choice | Ref | FieldName | Nested

DATE_TYPES: tuple[URIRef, ...] = (XSD.gYear, XSD.gYearMonth, XSD.date)


@dataclass(frozen=True)
class Property:
    """An RDF property with the range of its values."""

    iri: URIRef
    label: str
    definition: str
    range: Range


@dataclass(frozen=True)
class Field:
    """A YAML key of a kind of record and the property it maps to."""

    key: str
    prop: Property
    required: bool = False
    many: bool = False
    alternative: str | None = None  # required unless this other key is given (and stands in)
    # the curators' bookkeeping or classification (a CAMEO code), not a value a source states
    curation: bool = False


@dataclass(frozen=True)
class Kind:
    """A kind of record: a YAML section, an OWL class and an IRI path segment."""

    name: str
    section: str
    cls: URIRef
    label: str
    definition: str
    id_pattern: str
    id_hint: str
    fields: tuple[Field, ...]
    is_fact: bool = False
    parent: URIRef | None = None
    _by_key: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update({f.key: f for f in self.fields})

    def field(self, key: str) -> Field | None:
        """The field with YAML key ``key``, if the kind has one."""
        return self._by_key.get(key)

    def key_for(self, predicate: URIRef) -> str | None:
        """The YAML key that maps to ``predicate`` in this kind, if any."""
        for f in self.fields:
            if f.prop.iri == predicate:
                return f.key
        return None

    def iri(self, record_id: str) -> URIRef:
        """The instance IRI of the record of this kind with id ``record_id``."""
        return URIRef(self.iri_text(record_id))

    def iri_text(self, record_id: str) -> str:
        """The instance IRI as a plain string (no rdflib check: ids are checked already)."""
        return f"{ID_BASE}{self.name}/{record_id}"

    def id_matches(self, record_id: str) -> bool:
        """Whether ``record_id`` is a well-formed id for this kind."""
        return re.fullmatch(self.id_pattern, record_id) is not None


@dataclass(frozen=True)
class Structure:
    """A kind of nested record (a citation): a YAML mapping inside a record's list, an OWL
    class, and a fragment of its record's IRI (``<record-iri>#{name}-{n}``)."""

    name: str
    cls: URIRef
    label: str
    definition: str
    fields: tuple[Field, ...]
    _by_key: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update({f.key: f for f in self.fields})

    def field(self, key: str) -> Field | None:
        """The field with YAML key ``key``, if the structure has one."""
        return self._by_key.get(key)

    def key_for(self, predicate: URIRef) -> str | None:
        """The YAML key that maps to ``predicate`` in this structure, if any."""
        for f in self.fields:
            if f.prop.iri == predicate:
                return f.key
        return None

    def iri_text(self, record_iri: str, index: int) -> str:
        """The IRI of the ``index``-th (from 0) part of this structure in a record, or in a
        part (a geometry's citation: ``<record-iri>#geometry-1-citation-1``)."""
        joint = "-" if "#" in record_iri else "#"
        return f"{record_iri}{joint}{self.name}-{index + 1}"


# --- properties ---------------------------------------------------------------------------

STATE_OR_ORG = Ref(("state", "organization"))
#: Anyone who can act: a state (a bare id such as 'IRN'), a non-state actor ('actor/<id>'),
#: an international organisation ('igo/<id>') or another organisation ('organization/<id>').
#: A bare id names whichever kind has a record with it; 'kind/id' removes any doubt.
ANY_ACTOR = Ref(("state", "actor", "igo", "organization"))
#: Who can claim or hold a territory as a state does: states and de facto or self-declared
#: states and movements (non-state actors).
STATE_OR_ACTOR = Ref(("state", "actor"))
PLACE = Ref(("state", "territory", "facility"))

LABEL = Property(
    RDFS.label, "label", "The name of the thing, in one or more languages.", LangText()
)
COMMENT = Property(
    RDFS.comment, "comment", "A note for readers: context, caveats, wording.", Text()
)
SAME_AS = Property(
    OWL.sameAs, "same as", "The same thing in another knowledge base (e.g. Wikidata).", Url()
)
SOURCE = Property(
    DCTERMS.source,
    "source",
    "A source that states this fact.",
    Ref(("source",)),
)
ALPHA3 = Property(
    GK.iso3166Alpha3,
    "ISO 3166-1 alpha-3 code",
    "The state's three-letter code in ISO 3166-1.",
    Text(r"[A-Z]{3}", "three capital letters, e.g. 'IRN'"),
)
ALPHA2 = Property(
    GK.iso3166Alpha2,
    "ISO 3166-1 alpha-2 code",
    "The state's two-letter code in ISO 3166-1.",
    Text(r"[A-Z]{2}", "two capital letters, e.g. 'IR'"),
)
PART_OF = Property(
    GK.partOf,
    "part of",
    "The state a region belongs to, undisputed. Not used for disputed territories.",
    Ref(("state", "territory")),
)
TERRITORY_TYPE = Property(
    GK.territoryType, "territory type", "What kind of land area: island, region, ...", Text()
)
DISPUTED_TERRITORY = Property(
    GK.disputedTerritory,
    "disputed territory",
    "A territory the dispute is about.",
    Ref(("territory",)),
)
CLAIMANT = Property(
    GK.claimant,
    "claimant",
    "A state, or a de facto or self-declared state or movement (a non-state actor), that "
    "claims sovereignty over the territory.",
    STATE_OR_ACTOR,
)
ADMINISTERED_BY = Property(
    GK.administeredBy,
    "administered by",
    "Who controls and administers the territory in fact: a state, a de facto state or other "
    "non-state actor, or an international organisation (a UN transitional administration).",
    Ref(("state", "actor", "igo")),
)
START_DATE = Property(
    GK.startDate, "start date", "When the fact began, at the precision known.", Date()
)
END_DATE = Property(GK.endDate, "end date", "When the fact ended, at the precision known.", Date())
SUPPLIER = Property(
    GK.supplier,
    "supplier",
    "The state or non-state actor that supplies the weapons.",
    STATE_OR_ACTOR,
)
RECIPIENT = Property(
    GK.recipient,
    "recipient",
    "Who receives the weapons: a state, a non-state actor (an armed group) or an "
    "international organisation.",
    Ref(("state", "actor", "igo")),
)
WEAPON_SYSTEM = Property(
    GK.weaponSystem,
    "weapon system",
    "A weapon system transferred, produced or trained on.",
    Ref(("weapon",)),
)
QUANTITY_ORDERED = Property(
    GK.quantityOrdered,
    "quantity ordered",
    "Number of units ordered. Absent when unknown.",
    Integer(),
)
QUANTITY_DELIVERED = Property(
    GK.quantityDelivered,
    "quantity delivered",
    "Number of units delivered. Absent when unknown.",
    Integer(),
)
ORDER_DATE = Property(GK.orderDate, "order date", "When the order was placed.", Date())
DELIVERY_START = Property(
    GK.deliveryStartDate, "delivery start date", "When the first deliveries were made.", Date()
)
DELIVERY_END = Property(
    GK.deliveryEndDate, "delivery end date", "When the last deliveries were made.", Date()
)
LICENSED_PRODUCTION = Property(
    GK.licensedProduction,
    "licensed production",
    "Whether the recipient produces the weapons itself under licence.",
    Boolean(),
)
PRODUCTION_SITE = Property(
    GK.productionSite,
    "production site",
    "A facility where the weapons are produced or assembled.",
    Ref(("facility",)),
)
CATEGORY = Property(
    GK.category,
    "category",
    "The class of weapon, e.g. 'loitering munition', 'UAV', 'air defence system'.",
    Text(),
)
DEVELOPED_BY = Property(
    GK.developedBy,
    "developed by",
    "The state or organisation that designed the weapon system.",
    STATE_OR_ORG,
)
LOCATED_IN = Property(GK.locatedIn, "located in", "Where the thing is.", PLACE)
COUNTRY = Property(
    GK.country, "country", "The state an organisation belongs to or is based in.", Ref(("state",))
)
EVENT_TYPE = Property(
    GK.eventType,
    "event type",
    "What kind of event, e.g. 'ambassador summoned', 'public statement'.",
    Text(),
)
ACTOR = Property(GK.actor, "actor", "Who acted.", ANY_ACTOR)
TARGET = Property(GK.target, "target", "Who the action was directed at.", ANY_ACTOR)
DATE = Property(GK.date, "date", "When it happened, at the precision known.", Date())
ABOUT = Property(
    GK.about,
    "about",
    "The dispute or entity the event concerns.",
    Ref(
        (
            "dispute",
            "territory",
            "state",
            "actor",
            "igo",
            "organization",
            "weapon",
            "facility",
            "transfer",
            "event",
            "cooperation",
            "use",
            "claim",
            "administration",
            "assertion",
        )
    ),
)
COOPERATION_TYPE = Property(
    GK.cooperationType,
    "cooperation type",
    "What kind of military cooperation: 'training', 'joint production', 'intelligence sharing'.",
    Text(),
)
PROVIDER = Property(GK.provider, "provider", "Who provides the cooperation.", ANY_ACTOR)
BENEFICIARY = Property(
    GK.beneficiary, "beneficiary", "Who receives or benefits from the cooperation.", ANY_ACTOR
)
PARTICIPANT = Property(
    GK.participant,
    "participant",
    "A party to a cooperation whose direction (provider or beneficiary) is not known.",
    ANY_ACTOR,
)
LOCATION = Property(GK.location, "location", "Where it took place.", PLACE)
USER = Property(
    GK.user, "user", "The state or non-state actor that used the weapons.", STATE_OR_ACTOR
)
TITLE = Property(DCTERMS.title, "title", "The title of the source.", Text())
PUBLISHER = Property(DCTERMS.publisher, "publisher", "Who published the source.", Text())
CREATOR = Property(DCTERMS.creator, "author", "Who wrote the source.", Text())
ISSUED = Property(DCTERMS.issued, "issued", "When the source was published.", Date())
URL = Property(SCHEMA.url, "URL", "Where the source can be read. Only where certain.", Url())
IDENTIFIER = Property(
    DCTERMS.identifier,
    "identifier",
    "The source's own identifier: a UN document symbol (A/RES/68/262), a court's case number, "
    "a DOI, a register's record number.",
    Text(),
)
EDITION = Property(
    GK.edition,
    "edition",
    "The edition, version or export date of a reference work or database, as it names it.",
    Text(),
)
CITED_SOURCE = Property(
    GK.citedSource, "cited source", "The source a citation points into.", Ref(("source",))
)
LOCATOR = Property(
    GK.locator,
    "locator",
    "Where in the source the fact is stated: a page, paragraph, article or section, table "
    "row or record id (e.g. 'p. 14', 'para. 2', 'art. 3(1)', 'row 1572').",
    Text(),
)
SAYS = Property(
    GK.says,
    "says",
    "What the source states there, in one line and in the curators' own words.",
    Text(r"[^\r\n]+", "one line of text"),
)
SUPPORTS = Property(
    GK.supports,
    "supports",
    "A field of the fact (or entity) this citation backs, as the IRI of its property (the "
    "YAML names the field's key, e.g. 'delivery_start_date' for gk:deliveryStartDate, "
    "'developed_by' for a weapon's gk:developedBy). A citation without gk:supports backs "
    "the fact as a whole.",
    FieldName(),
)
ACCESSED = Property(
    GK.accessed,
    "accessed",
    "The day the curators read the source (an xsd:date).",
    Date(day=True),
)
ARCHIVED_URL = Property(
    GK.archivedUrl,
    "archived URL",
    "A copy of the source in a web archive (e.g. the Wayback Machine), as it was read.",
    Url(),
)
QUOTE = Property(
    GK.quote,
    "quote",
    "The source's own words, for researchers' own data. geokb's shipped data leaves it out.",
    Text(),
)


# --- controlled values ------------------------------------------------------------------

FACT_STATUS = Choice(
    "FactStatus",
    "Whether a fact is only reported, confirmed, denied, inferred or machine-coded.",
    (
        Option(
            "reported",
            "Reported",
            "reported",
            "Stated by a source but not confirmed by the parties or official records.",
        ),
        Option(
            "confirmed",
            "Confirmed",
            "confirmed",
            "Acknowledged by a party to it or established by official records.",
        ),
        Option("denied", "Denied", "denied", "Denied by a party to it (see gk:statusBy)."),
        Option(
            "inferred",
            "Inferred",
            "inferred",
            "Not stated outright by a source: the curators infer it from what sources state "
            "(gk:basis says from what). An inferred fact is never of high confidence.",
        ),
        Option(
            "machine-coded",
            "MachineCoded",
            "machine-coded",
            "Coded by software from news text in an event dataset (ICEWS, GDELT) and imported "
            "as the dataset gives it ('geokb import events'); no curator read the reports.",
        ),
    ),
)
#: Source types whose located citation alone can carry high confidence.
AUTHORITATIVE_SOURCE_TYPES = ("official", "un-document", "court", "company", "report")
CONFIDENCE = Choice(
    "Confidence",
    "How sure the curators are of a fact, given its citations. 'geokb validate' checks what "
    "each level requires; a located citation is a gk:citation with a gk:locator.",
    (
        Option(
            "high",
            "HighConfidence",
            "high confidence",
            "Requires a located citation of an authoritative source (gk:sourceType official, "
            "UN document, court, company or report), or located citations of at least two "
            "different sources. Never for an inferred fact.",
        ),
        Option(
            "medium",
            "MediumConfidence",
            "medium confidence",
            "Requires at least one located citation: a credible source says where it states "
            "the fact.",
        ),
        Option(
            "low",
            "LowConfidence",
            "low confidence",
            "Anything else: generic citations (no locator), or a fact inferred by the curators.",
        ),
    ),
)
SOURCE_TYPE = Choice(
    "SourceType",
    "What kind of document a source is; it weighs in the confidence a citation can carry.",
    (
        Option(
            "official",
            "OfficialSource",
            "official",
            "A government's or armed force's own publication: a statement, a decree, a "
            "ministry's release, an official gazette.",
        ),
        Option(
            "un-document",
            "UNDocument",
            "UN document",
            "A document of the United Nations with a document symbol: a resolution, a report "
            "of the Secretary-General or of a panel of experts, a letter to the Council.",
        ),
        Option(
            "court",
            "CourtDocument",
            "court",
            "A judgment, order, award or filing of a court or tribunal.",
        ),
        Option(
            "report",
            "ResearchReport",
            "report",
            "A report of a research institute, NGO or investigative group that shows its "
            "evidence (e.g. SIPRI, Conflict Armament Research).",
        ),
        Option(
            "company",
            "CompanySource",
            "company",
            "A company's own publication: an annual report, a filing, a press release.",
        ),
        Option("news", "NewsReport", "news", "A news report by a news organisation."),
        Option(
            "reference",
            "ReferenceWork",
            "reference",
            "An encyclopedia, handbook or yearbook (e.g. The Military Balance).",
        ),
        Option(
            "database",
            "DatabaseSource",
            "database",
            "A database or register read at a date (e.g. the SIPRI Arms Transfers Database).",
        ),
    ),
)
UN_MEMBERSHIP = Choice(
    "UNMembershipStatus",
    "A state's standing at the United Nations.",
    (
        Option("member", "UNMemberState", "UN member state", "A member of the United Nations."),
        Option(
            "observer",
            "UNObserverState",
            "UN non-member observer state",
            "A non-member state with permanent observer status at the General Assembly.",
        ),
        Option(
            "none",
            "NotUNMember",
            "not a UN member",
            "Neither a member nor an observer state of the United Nations.",
        ),
    ),
)
TRANSFER_STATUS = Choice(
    "TransferStatus",
    "Where an arms transfer stands (the 'status' of a SIPRI-style register row).",
    (
        Option("planned", "TransferPlanned", "planned", "Announced or agreed, not yet ordered."),
        Option("ordered", "TransferOrdered", "ordered", "Ordered; no deliveries known yet."),
        Option("delivering", "TransferDelivering", "delivering", "Deliveries under way."),
        Option("delivered", "TransferDelivered", "delivered", "All known deliveries made."),
        Option("cancelled", "TransferCancelled", "cancelled", "Cancelled before completion."),
    ),
)


def _cameo(code: str, label: str) -> Option:
    return Option(code, f"CAMEO_{code}", label, f"CAMEO event code {code}.", code)


# CAMEO (Conflict and Mediation Event Observations), the coding used by GDELT and ICEWS:
# root categories plus the sub-codes geokb's data uses. Only codes whose wording is certain.
CAMEO = Choice(
    "CAMEOEventType",
    "An event category of the CAMEO event coding scheme.",
    (
        _cameo("01", "Make public statement"),
        _cameo("010", "Make statement, not specified below"),
        _cameo("02", "Appeal"),
        _cameo("03", "Express intent to cooperate"),
        _cameo("04", "Consult"),
        _cameo("05", "Engage in diplomatic cooperation"),
        _cameo("06", "Engage in material cooperation"),
        _cameo("062", "Cooperate militarily"),
        _cameo("064", "Share intelligence or information"),
        _cameo("07", "Provide aid"),
        _cameo("072", "Provide military aid"),
        _cameo("08", "Yield"),
        _cameo("09", "Investigate"),
        _cameo("10", "Demand"),
        _cameo("11", "Disapprove"),
        _cameo("111", "Criticize or denounce"),
        _cameo("112", "Accuse"),
        _cameo("114", "Complain officially"),
        _cameo("12", "Reject"),
        _cameo("13", "Threaten"),
        _cameo("14", "Protest"),
        _cameo("15", "Exhibit force posture"),
        _cameo("16", "Reduce relations"),
        _cameo("163", "Impose embargo, boycott, or sanctions"),
        _cameo("17", "Coerce"),
        _cameo("18", "Assault"),
        _cameo("19", "Fight"),
        _cameo("190", "Use conventional military force, not specified below"),
        _cameo("195", "Employ aerial weapons"),
        _cameo("20", "Use unconventional mass violence"),
    ),
)
#: What kind of non-state actor. No option is mapped to a Wikidata class: none was checked
#: against Wikidata, and a guessed mapping would be worse than none.
ACTOR_TYPE = Choice(
    "ActorType",
    "What kind of non-state actor: a de facto or self-declared state, a movement, an armed "
    "group, a private military company. An actor may have more than one (a movement that "
    "proclaimed a state, an armed group that is also a party).",
    (
        Option(
            "de-facto-state",
            "DeFactoState",
            "de facto state",
            "A self-proclaimed state that controls and governs a territory but is not a UN "
            "member state: recognised by no UN member or by a few (e.g. Artsakh, Northern "
            "Cyprus, Abkhazia, South Ossetia, Transnistria, Somaliland).",
        ),
        Option(
            "self-declared-state",
            "SelfDeclaredState",
            "self-declared state",
            "A proclaimed state, not a UN member state, that does not control most of the "
            "territory it claims, whatever its recognition (e.g. the Sahrawi Arab Democratic "
            "Republic).",
        ),
        Option(
            "liberation-movement",
            "LiberationMovement",
            "rebel or liberation movement",
            "A political movement fighting, by arms or otherwise, for independence, "
            "self-determination or power over a territory (e.g. the Polisario Front).",
        ),
        Option(
            "armed-group",
            "ArmedGroup",
            "armed group",
            "A non-state armed group or militia with its own command, not a state's armed "
            "force (e.g. Ansar Allah, Hezbollah).",
        ),
        Option(
            "political-party",
            "PoliticalParty",
            "political party",
            "A party that contests elections or holds seats, beside any other role.",
        ),
        Option(
            "private-military-company",
            "PrivateMilitaryCompany",
            "private military company",
            "A company that sells combat or military services.",
        ),
    ),
)
CHOICES: tuple[Choice, ...] = (
    ACTOR_TYPE,
    FACT_STATUS,
    CONFIDENCE,
    SOURCE_TYPE,
    UN_MEMBERSHIP,
    TRANSFER_STATUS,
    CAMEO,
)

STATUS = Property(
    GK.status,
    "status",
    "Whether the fact is reported, confirmed, denied, inferred by the curators, or "
    "machine-coded in an imported event dataset.",
    FACT_STATUS,
)
STATUS_BY = Property(
    GK.statusBy,
    "status by",
    "Who confirmed or denied the fact (with gk:status confirmed or denied).",
    ANY_ACTOR,
)
CONFIDENCE_PROP = Property(
    GK.confidence, "confidence", "How sure the curators are of the fact.", CONFIDENCE
)
SOURCE_TYPE_PROP = Property(
    GK.sourceType, "source type", "What kind of document the source is.", SOURCE_TYPE
)
BASIS = Property(
    GK.basis,
    "basis",
    "What an inferred fact rests on: the facts or citations it is inferred from, and how. "
    "Required when the status is inferred.",
    Text(),
)
AS_OF = Property(
    GK.asOf,
    "as of",
    "The date the fact was last known to be true, for facts that can change (who "
    "administers a territory, where a transfer stands).",
    Date(),
)
CITATION = Property(
    GK.citation,
    "citation",
    "A citation of the fact or entity: a place in a source that states it (gk:citedSource, "
    "gk:locator, gk:says ...). Reach it with ?fact gk:citation ?c . ?c gk:locator ?where .",
    Nested("citation"),
)
AS_WKT = Property(
    GEO.asWKT,
    "as WKT",
    "The geometry as WKT in WGS84, longitude first (GeoSPARQL). YAML writes a point as "
    "'point: [latitude, longitude]' in decimal degrees, as Wikidata shows coordinates.",
    Point(),
)
HAS_GEOMETRY = Property(
    GEO.hasGeometry,
    "has geometry",
    "Where the place is: a GeoSPARQL geometry (a point) with its own citations, written "
    "'geometry: {point: [latitude, longitude], citations: [{source: ..., locator: ...}]}'.",
    Nested("geometry"),
)
UN_MEMBERSHIP_PROP = Property(
    GK.unMembership, "UN membership", "The state's standing at the United Nations.", UN_MEMBERSHIP
)
TRANSFER_STATUS_PROP = Property(
    GK.transferStatus,
    "transfer status",
    "Where the transfer stands: ordered, delivering, ...",
    TRANSFER_STATUS,
)
CAMEO_PROP = Property(
    GK.cameoCode,
    "CAMEO event type",
    "The event's category in the CAMEO event coding scheme.",
    CAMEO,
)
# The curators' coding of an event under the CAMEO codebook: a classification of what the
# citations state, not a value a source states itself (so provenance does not ask for it).
CAMEO_FIELD = Field("cameo", CAMEO_PROP, curation=True)
IN_DISPUTE = Property(
    GK.inDispute, "in dispute", "The dispute this claim is part of.", Ref(("dispute",))
)
CLAIMED_TERRITORY = Property(
    GK.claimedTerritory,
    "claimed territory",
    "A territory the claimant claims.",
    Ref(("territory",)),
)
POSITION = Property(
    GK.position, "position", "What the claimant claims, in its own terms, briefly.", Text()
)
TERRITORY = Property(GK.territory, "territory", "The territory concerned.", Ref(("territory",)))
ASSERTED_BY = Property(
    GK.assertedBy,
    "asserted by",
    "Who makes the assertion (a state, non-state actor or organisation).",
    ANY_ACTOR,
)
STANCE = Property(
    GK.stance, "stance", "Whether the assertion reports, confirms or denies the fact.", FACT_STATUS
)
STATEMENT = Property(GK.statement, "statement", "What is asserted, in words.", Text())
QUANTITY = Property(
    GK.quantity, "quantity", "A number the assertion gives (e.g. units delivered).", Integer()
)
ACTOR_TYPE_PROP = Property(
    GK.actorType, "actor type", "What kind of non-state actor it is.", ACTOR_TYPE
)


# --- kinds ------------------------------------------------------------------------------

SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
SLUG_HINT = "lower-case letters, digits and single hyphens, e.g. 'abu-musa'"


def _entity_fields(*extra: Field) -> tuple[Field, ...]:
    # An entity's label and its own fields (a weapon's category and developer, a facility's
    # place) are values a source states, so its located citations may support them, as a
    # fact's do; its sources, citations and note are the curators' bookkeeping.
    return (
        Field("label", LABEL, required=True),
        *extra,
        Field("wikidata", SAME_AS),
        Field("sources", SOURCE, many=True, curation=True),
        Field("citations", CITATION, many=True, curation=True),
        Field("note", COMMENT, curation=True),
    )


def _fact_fields(*extra: Field) -> tuple[Field, ...]:
    return (
        Field("label", LABEL, curation=True),
        *extra,
        Field("status", STATUS, curation=True),
        Field("status_by", STATUS_BY, many=True),
        Field("basis", BASIS, curation=True),
        Field("as_of", AS_OF, curation=True),
        Field("confidence", CONFIDENCE_PROP, curation=True),
        Field("sources", SOURCE, required=True, many=True, alternative="citations", curation=True),
        Field("citations", CITATION, many=True, curation=True),
        Field("note", COMMENT, curation=True),
    )


#: A citation: the place in a source that states a fact (Wikidata's references, PROV-O's
#: qualified derivation). Its cited source is also a dcterms:source of the fact.
CITATION_STRUCTURE = Structure(
    name="citation",
    cls=GK.Citation,
    label="citation",
    definition=(
        "A place in a source that states a fact, or an entity's values (a weapon's category "
        "and developer): which source (gk:citedSource), where in it (gk:locator), what it "
        "says there (gk:says), which of the record's fields it backs (gk:supports), when it "
        "was read (gk:accessed). A fact or entity links to its citations with gk:citation; "
        "their IRIs are its IRI with '#citation-1', '#citation-2' ... A citation without a "
        "locator is generic: it names the source, not the place."
    ),
    fields=(
        Field("source", CITED_SOURCE, required=True),
        Field("locator", LOCATOR),
        Field("says", SAYS),
        Field("supports", SUPPORTS, many=True),
        Field("accessed", ACCESSED),
        Field("archived_url", ARCHIVED_URL),
        Field("quote", QUOTE),
    ),
)
#: Where a place is: a point (later a polygon, where a source gives one) that carries the
#: citations of the sources it was read from, since a place's record has no citations.
GEOMETRY_STRUCTURE = Structure(
    name="geometry",
    cls=GEO.Geometry,
    label="geometry",
    definition=(
        "Where a place (territory or facility) is: a GeoSPARQL geometry whose geo:asWKT is a "
        "WGS84 point, with the citations of the sources it was read from (gk:citation). Its "
        "IRI is the place's IRI with '#geometry-1', its citations' IRIs that with '-citation-1' ..."
    ),
    fields=(
        Field("point", AS_WKT, required=True),
        Field("citations", CITATION, required=True, many=True),
    ),
)
STRUCTURES: tuple[Structure, ...] = (CITATION_STRUCTURE, GEOMETRY_STRUCTURE)
STRUCTURES_BY_NAME: dict[str, Structure] = {s.name: s for s in STRUCTURES}


FACT = GK.Fact
#: Anyone who can act in a fact: every state, non-state actor, international organisation and
#: other organisation is also typed gk:Actor in the data, so '?x a gk:Actor' finds them all.
ACTOR_CLASS = GK.Actor
ACTOR_DEFINITION = (
    "Anyone who can act in a geopolitical fact: claim or administer a territory, supply, "
    "receive or use weapons, act in or be the target of an event, cooperate. Its subclasses "
    "are gk:State, gk:NonStateActor, gk:InternationalOrganization and gk:Organization; every "
    "record of these kinds is also typed gk:Actor."
)

KINDS: tuple[Kind, ...] = (
    Kind(
        name="source",
        section="sources",
        cls=GK.Source,
        label="source",
        definition="A document that states facts: a news report, a register, a resolution.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=(
            Field("title", TITLE, required=True),
            Field("publisher", PUBLISHER, required=True),
            Field("author", CREATOR, many=True),
            Field("issued", ISSUED),
            Field("url", URL),
            Field("type", SOURCE_TYPE_PROP),
            Field("identifier", IDENTIFIER),
            Field("edition", EDITION),
            Field("note", COMMENT),
        ),
    ),
    Kind(
        name="state",
        section="states",
        cls=GK.State,
        label="state",
        definition="A sovereign state, identified by its ISO 3166-1 alpha-3 code.",
        id_pattern=r"[A-Z]{3}",
        id_hint="an ISO 3166-1 alpha-3 code: three capital letters, e.g. 'IRN'",
        fields=_entity_fields(
            Field("alpha2", ALPHA2, required=True), Field("un_membership", UN_MEMBERSHIP_PROP)
        ),
        parent=ACTOR_CLASS,
    ),
    Kind(
        name="actor",
        section="non_state_actors",
        cls=GK.NonStateActor,
        label="non-state actor",
        definition=(
            "An actor that is not a UN member state or observer state: a de facto or "
            "self-declared state, a rebel or liberation movement, an armed group, a private "
            "military company (gk:actorType says which). Written under 'non_state_actors:'; "
            "its IRI is /id/actor/<id>, and a field refers to it as 'actor/<id>'."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(Field("actor_type", ACTOR_TYPE_PROP, required=True, many=True)),
        parent=ACTOR_CLASS,
    ),
    Kind(
        name="igo",
        section="international_organizations",
        cls=GK.InternationalOrganization,
        label="international organisation",
        definition=(
            "An organisation of states set up by treaty (e.g. the UN, NATO, the EU). Written "
            "under 'international_organizations:'; its IRI is /id/igo/<id>, and a field "
            "refers to it as 'igo/<id>'."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(),
        parent=ACTOR_CLASS,
    ),
    Kind(
        name="territory",
        section="territories",
        cls=GK.Territory,
        label="territory",
        definition="A land area (island, region, province) that can be claimed or administered.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(
            Field("type", TERRITORY_TYPE),
            Field("part_of", PART_OF),
            Field("geometry", HAS_GEOMETRY),
        ),
    ),
    Kind(
        name="organization",
        section="organizations",
        cls=GK.Organization,
        label="organization",
        definition=(
            "A company, agency, armed force or other body that is not a state, a non-state "
            "actor (gk:NonStateActor) or an international organisation."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(Field("country", COUNTRY)),
        parent=ACTOR_CLASS,
    ),
    Kind(
        name="weapon",
        section="weapon_systems",
        cls=GK.WeaponSystem,
        label="weapon system",
        definition="A type of weapon, e.g. a model of drone, missile or aircraft.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(
            Field("category", CATEGORY, required=True),
            Field("developed_by", DEVELOPED_BY, many=True),
        ),
    ),
    Kind(
        name="facility",
        section="facilities",
        cls=GK.Facility,
        label="facility",
        definition="A site: a factory, base or special economic zone.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(
            Field("located_in", LOCATED_IN, required=True), Field("geometry", HAS_GEOMETRY)
        ),
    ),
    Kind(
        name="dispute",
        section="disputes",
        cls=GK.TerritorialDispute,
        label="territorial dispute",
        definition=(
            "Two or more states (or de facto states and movements) claiming sovereignty over "
            "the same territory."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("territories", DISPUTED_TERRITORY, required=True, many=True),
            Field("claimants", CLAIMANT, required=True, many=True),
            Field("administered_by", ADMINISTERED_BY, many=True),
            Field("start_date", START_DATE),
            Field("end_date", END_DATE),
        ),
    ),
    Kind(
        name="transfer",
        section="arms_transfers",
        cls=GK.ArmsTransfer,
        label="arms transfer",
        definition=(
            "Weapons supplied by a state or non-state actor to another: ordered, delivered or "
            "produced."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("supplier", SUPPLIER, required=True),
            Field("recipient", RECIPIENT, required=True),
            Field("weapon_systems", WEAPON_SYSTEM, required=True, many=True),
            Field("quantity_ordered", QUANTITY_ORDERED),
            Field("quantity_delivered", QUANTITY_DELIVERED),
            Field("order_date", ORDER_DATE),
            Field("delivery_start_date", DELIVERY_START),
            Field("delivery_end_date", DELIVERY_END),
            Field("licensed_production", LICENSED_PRODUCTION),
            Field("production_sites", PRODUCTION_SITE, many=True),
            Field("transfer_status", TRANSFER_STATUS_PROP),
        ),
    ),
    Kind(
        name="event",
        section="diplomatic_events",
        cls=GK.DiplomaticEvent,
        label="diplomatic event",
        definition=(
            "A dated act between actors (states, organisations, non-state actors): a summons, "
            "a statement, a visit, a protest."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("event_type", EVENT_TYPE, required=True),
            CAMEO_FIELD,
            Field("actors", ACTOR, required=True, many=True),
            Field("targets", TARGET, many=True),
            Field("date", DATE),
            Field("about", ABOUT, many=True),
        ),
    ),
    Kind(
        name="cooperation",
        section="military_cooperation",
        cls=GK.MilitaryCooperation,
        label="military cooperation",
        definition="Training, joint production or intelligence sharing between armed forces.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("cooperation_type", COOPERATION_TYPE, required=True),
            CAMEO_FIELD,
            Field("providers", PROVIDER, many=True),
            Field("beneficiaries", BENEFICIARY, many=True),
            Field("participants", PARTICIPANT, many=True),
            Field("weapon_systems", WEAPON_SYSTEM, many=True),
            Field("production_sites", PRODUCTION_SITE, many=True),
            Field("location", LOCATION),
            Field("start_date", START_DATE),
            Field("end_date", END_DATE),
        ),
    ),
    Kind(
        name="use",
        section="combat_uses",
        cls=GK.CombatUse,
        label="combat use",
        definition="A state or non-state actor using a weapon system against another.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("user", USER, required=True),
            CAMEO_FIELD,
            Field("targets", TARGET, many=True),
            Field("weapon_systems", WEAPON_SYSTEM, required=True, many=True),
            Field("location", LOCATION),
            Field("start_date", START_DATE),
            Field("end_date", END_DATE),
        ),
    ),
    Kind(
        name="claim",
        section="sovereignty_claims",
        cls=GK.SovereigntyClaim,
        label="sovereignty claim",
        definition="One claimant's position in a territorial dispute: what it claims, since when.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("dispute", IN_DISPUTE, required=True),
            Field("claimant", CLAIMANT, required=True),
            Field("territories", CLAIMED_TERRITORY, many=True),
            Field("position", POSITION),
            Field("start_date", START_DATE),
            Field("end_date", END_DATE),
        ),
    ),
    Kind(
        name="administration",
        section="administrations",
        cls=GK.Administration,
        label="administration",
        definition=(
            "A state, de facto state or international organisation controlling and "
            "administering a territory in fact, for a period."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("territory", TERRITORY, required=True),
            Field("administered_by", ADMINISTERED_BY, required=True),
            Field("start_date", START_DATE),
            Field("end_date", END_DATE),
        ),
    ),
    Kind(
        name="assertion",
        section="assertions",
        cls=GK.Assertion,
        label="assertion",
        definition=(
            "Someone reporting, confirming or denying a fact, as a source records it. Sources "
            "that disagree are kept side by side, each as its own assertion."
        ),
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("about", ABOUT, required=True),
            Field("stance", STANCE, required=True),
            Field("statement", STATEMENT, required=True),
            Field("asserted_by", ASSERTED_BY),
            Field("quantity", QUANTITY),
            Field("date", DATE),
        ),
    ),
)

KINDS_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
#: Everything that has a SHACL shape: the kinds of record and the nested structures.
SHAPED: tuple[Kind | Structure, ...] = (*KINDS, *STRUCTURES)
KINDS_BY_SECTION: dict[str, Kind] = {k.section: k for k in KINDS}
KINDS_BY_CLASS: dict[URIRef, Kind] = {k.cls: k for k in KINDS}


def properties() -> list[Property]:
    """Every property used by a kind or a structure, once, in the order first used."""
    seen: dict[URIRef, Property] = {}
    for shaped in SHAPED:
        for f in shaped.fields:
            seen.setdefault(f.prop.iri, f.prop)
    return list(seen.values())


def value_fields(kind: Kind) -> tuple[Field, ...]:
    """The fields of ``kind`` that state something about the world, which a source must back
    (not the curators' bookkeeping: label, status, basis, as_of, confidence, sources,
    citations, note; nor the CAMEO code, their classification of what the sources state)."""
    return tuple(f for f in kind.fields if not f.curation)


def kind_of_iri(iri: str) -> tuple[Kind, str] | None:
    """The kind and id of a geokb instance IRI, or None if it is not one."""
    if not iri.startswith(ID_BASE):
        return None
    kind_name, _, record_id = iri[len(ID_BASE) :].partition("/")
    kind = KINDS_BY_NAME.get(kind_name)
    if kind is None or not record_id:
        return None
    return kind, record_id
