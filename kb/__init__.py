"""geokb: a geopolitical event knowledge base.

The data path, one module per step: ``yamlfile`` → ``records`` → ``linking`` → ``mapping``
→ ``checks`` (together: ``pipeline``) → ``store`` → ``query``.
"""
