"""What the run ledger says about finished tasks, one concern per module:

- ``outcomes``: the one classification of a step's outcome (ledger, metrics and export use it);
- ``ledger_rows`` and ``ledger``: the ledger's schema and rows, and its storage (write, read);
- ``tool_facts``: which tools read only, are compensated or irreversible, from what the workers
  declared in the state database, the profiles and what runs recorded;
- ``prices`` and ``stats``: computing the ``stats`` report;
- ``render_text`` and ``render_html``: the report for a terminal, machines and a browser;
- ``export``: decisions as JSONL training data;
- ``autonomy`` and ``promotion``: recommending, and applying, a change of a tool's autonomy.

The CLI commands are in ``handrail.cli.stats``. Nothing is imported here: ``outcomes`` is read
by the worker's metrics, which should not pay for the renderers.
"""
