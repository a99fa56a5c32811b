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

from rdflib import DCTERMS, OWL, RDF, RDFS, XSD, Namespace, URIRef

GK = Namespace("https://w3id.org/geokb/ontology#")
SCHEMA = Namespace("https://schema.org/")
ID_BASE = "https://w3id.org/geokb/id/"
GRAPH_BASE = "https://w3id.org/geokb/graph/"
ONTOLOGY_IRI = URIRef("https://w3id.org/geokb/ontology")
ONTOLOGY_GRAPH = URIRef(GRAPH_BASE + "ontology")

#: Prefixes preset for queries, pages and serialisations.
PREFIXES: dict[str, str] = {
    "gk": str(GK),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "dcterms": str(DCTERMS),
    "schema": str(SCHEMA),
}


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
    """A date at the precision known: xsd:gYear, xsd:gYearMonth or xsd:date."""


@dataclass(frozen=True)
class Url:
    """An absolute http(s) URL, stored as an IRI."""


@dataclass(frozen=True)
class Ref:
    """A reference to another record by id; ``kinds`` are the kinds it may point to."""

    kinds: tuple[str, ...]


Range = Text | LangText | Integer | Boolean | Date | Url | Ref

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
        return URIRef(f"{ID_BASE}{self.name}/{record_id}")

    def id_matches(self, record_id: str) -> bool:
        """Whether ``record_id`` is a well-formed id for this kind."""
        return re.fullmatch(self.id_pattern, record_id) is not None


# --- properties ---------------------------------------------------------------------------

STATE_OR_ORG = Ref(("state", "organization"))
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
    GK.claimant, "claimant", "A state that claims sovereignty over the territory.", Ref(("state",))
)
ADMINISTERED_BY = Property(
    GK.administeredBy,
    "administered by",
    "The state that controls and administers the territory in fact.",
    Ref(("state",)),
)
START_DATE = Property(
    GK.startDate, "start date", "When the fact began, at the precision known.", Date()
)
END_DATE = Property(GK.endDate, "end date", "When the fact ended, at the precision known.", Date())
SUPPLIER = Property(
    GK.supplier, "supplier", "The state that supplies the weapons.", Ref(("state",))
)
RECIPIENT = Property(
    GK.recipient, "recipient", "The state that receives the weapons.", Ref(("state",))
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
ACTOR = Property(GK.actor, "actor", "Who acted.", STATE_OR_ORG)
TARGET = Property(GK.target, "target", "Who the action was directed at.", STATE_OR_ORG)
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
            "organization",
            "weapon",
            "facility",
            "transfer",
            "event",
            "cooperation",
            "use",
        )
    ),
)
COOPERATION_TYPE = Property(
    GK.cooperationType,
    "cooperation type",
    "What kind of military cooperation: 'training', 'joint production', 'intelligence sharing'.",
    Text(),
)
PROVIDER = Property(GK.provider, "provider", "Who provides the cooperation.", STATE_OR_ORG)
BENEFICIARY = Property(
    GK.beneficiary, "beneficiary", "Who receives or benefits from the cooperation.", STATE_OR_ORG
)
PARTICIPANT = Property(
    GK.participant,
    "participant",
    "A party to a cooperation whose direction (provider or beneficiary) is not known.",
    STATE_OR_ORG,
)
LOCATION = Property(GK.location, "location", "Where it took place.", PLACE)
USER = Property(GK.user, "user", "The state that used the weapons.", Ref(("state",)))
TITLE = Property(DCTERMS.title, "title", "The title of the source.", Text())
PUBLISHER = Property(DCTERMS.publisher, "publisher", "Who published the source.", Text())
CREATOR = Property(DCTERMS.creator, "author", "Who wrote the source.", Text())
ISSUED = Property(DCTERMS.issued, "issued", "When the source was published.", Date())
URL = Property(SCHEMA.url, "URL", "Where the source can be read. Only where certain.", Url())


# --- kinds ------------------------------------------------------------------------------

SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
SLUG_HINT = "lower-case letters, digits and single hyphens, e.g. 'abu-musa'"


def _entity_fields(*extra: Field) -> tuple[Field, ...]:
    return (
        Field("label", LABEL, required=True),
        *extra,
        Field("wikidata", SAME_AS),
        Field("sources", SOURCE, many=True),
        Field("note", COMMENT),
    )


def _fact_fields(*extra: Field) -> tuple[Field, ...]:
    return (
        Field("label", LABEL),
        *extra,
        Field("sources", SOURCE, required=True, many=True),
        Field("note", COMMENT),
    )


FACT = GK.Fact

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
        fields=_entity_fields(Field("alpha2", ALPHA2, required=True)),
    ),
    Kind(
        name="territory",
        section="territories",
        cls=GK.Territory,
        label="territory",
        definition="A land area (island, region, province) that can be claimed or administered.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(Field("type", TERRITORY_TYPE), Field("part_of", PART_OF)),
    ),
    Kind(
        name="organization",
        section="organizations",
        cls=GK.Organization,
        label="organization",
        definition="A company, agency, armed force or other body that is not a state.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        fields=_entity_fields(Field("country", COUNTRY)),
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
        fields=_entity_fields(Field("located_in", LOCATED_IN, required=True)),
    ),
    Kind(
        name="dispute",
        section="disputes",
        cls=GK.TerritorialDispute,
        label="territorial dispute",
        definition="Two or more states claiming sovereignty over the same territory.",
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
        definition="Weapons supplied by one state to another: ordered, delivered or produced.",
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
        ),
    ),
    Kind(
        name="event",
        section="diplomatic_events",
        cls=GK.DiplomaticEvent,
        label="diplomatic event",
        definition="A dated act between states: a summons, a statement, a visit, a protest.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("event_type", EVENT_TYPE, required=True),
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
        definition="A state using a weapon system against another state.",
        id_pattern=SLUG,
        id_hint=SLUG_HINT,
        is_fact=True,
        parent=FACT,
        fields=_fact_fields(
            Field("user", USER, required=True),
            Field("targets", TARGET, many=True),
            Field("weapon_systems", WEAPON_SYSTEM, required=True, many=True),
            Field("location", LOCATION),
            Field("start_date", START_DATE),
            Field("end_date", END_DATE),
        ),
    ),
)

KINDS_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
KINDS_BY_SECTION: dict[str, Kind] = {k.section: k for k in KINDS}
KINDS_BY_CLASS: dict[URIRef, Kind] = {k.cls: k for k in KINDS}


def properties() -> list[Property]:
    """Every property used by a kind, once, in the order first used."""
    seen: dict[URIRef, Property] = {}
    for kind in KINDS:
        for f in kind.fields:
            seen.setdefault(f.prop.iri, f.prop)
    return list(seen.values())


def kind_of_iri(iri: str) -> tuple[Kind, str] | None:
    """The kind and id of a geokb instance IRI, or None if it is not one."""
    if not iri.startswith(ID_BASE):
        return None
    kind_name, _, record_id = iri[len(ID_BASE) :].partition("/")
    kind = KINDS_BY_NAME.get(kind_name)
    if kind is None or not record_id:
        return None
    return kind, record_id
