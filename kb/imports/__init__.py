"""Researchers' datasets into data/: SIPRI trade registers and CAMEO-coded event files
(ICEWS, GDELT 1.0) written as YAML that the build checks like any other (``geokb import``)."""
