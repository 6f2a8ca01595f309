"""Handrail's own state: the effect journal (and, in time, conversations, ledger, audits)."""
