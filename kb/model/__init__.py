"""The model: kb/model/schema.py is the one description of geokb's kinds, keys and properties;
the ontology and the country list are derived from it or checked against it."""
