"""Files derived from the model: the ontology, shapes, JSON Schema, docs and README sections."""
