"""Researchers' datasets into data/: SIPRI trade registers and CAMEO-coded event files
(ICEWS, GDELT 1.0) written as YAML that the build checks like any other (``geokb import``).

``run`` drives an import: ``existing`` reads what data/ holds, ``lines`` decodes the file,
``sipri`` and ``events`` turn rows into facts, skips and duplicates (``rows``) with the
tables of ``codes``, and ``writer`` writes the YAML text and puts the files in place whole.
"""
