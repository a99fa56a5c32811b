"""Tools for researchers reviewing the data: diffs between revisions, contradictions, record
skeletons, and the SIPRI-style register."""
