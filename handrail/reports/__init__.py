"""Reports over the run ledger, rendered for people and machines:

- ``stats``, ``measures`` and ``prices``: computing the ``stats`` report;
- ``view`` (the model), ``sections`` and ``trust_sections`` (built from the report) and
  ``formats``: the report as people read it, section by section, one for both renderings;
- ``render_text`` and ``render_html``: that view for a terminal (and JSON for machines) and a
  browser;
- ``export``: decisions as JSONL training data.

The ledger's storage is ``handrail.storage.ledger``; the trust engine (autonomy, promotion,
shadow) is ``handrail.trust``. The CLI commands are in ``handrail.cli.stats``.
"""
