"""Where builds go: the embedded pyoxigraph store (local) or a remote SPARQL store (remote)."""
