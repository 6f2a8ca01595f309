"""The trust engine the worker and ``stats`` run: earned autonomy from reviewer agreement.

- ``evidence``: agreement, trouble and the demotion test over a tool's recent reviews;
- ``calibration``: confidence bounds and thresholds (pure);
- ``autonomy``: recommendations per tool and profile;
- ``promotion``: applying a level change (a person's, or the worker's), audited;
- ``auto_demotion``: the worker's demotion after a run shows a tool in trouble;
- ``tool_facts``: what each tool is (read-only, compensated, irreversible);
- ``shadow``: what a shadow rule would have let through or stopped.

Storage (the ledger, the autonomy log) is in ``handrail.storage``; rendering in
``handrail.reports``.
"""
