"""geokb's HTTP service: the SPARQL endpoint, the query page and entity pages."""
