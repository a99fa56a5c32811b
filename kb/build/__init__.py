"""The data path, in the order it runs: YAML (yamlfile) -> records -> links (linking) -> RDF
(mapping) -> checks (checks, shape_checks), per file (per_file, workers), tied together by
pipeline; manifest describes a build."""
