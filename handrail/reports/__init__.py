"""Reports over the run ledger, rendered for people and machines:

- ``stats`` and ``prices``: computing the ``stats`` report;
- ``commit_point``: how often actions held back to the commit point failed there;
- ``render_text`` and ``render_html``: the report for a terminal, machines and a browser;
- ``export``: decisions as JSONL training data.

The ledger's storage is ``handrail.storage.ledger``; the trust engine (autonomy, promotion,
shadow) is ``handrail.trust``. The CLI commands are in ``handrail.cli.stats``.
"""
