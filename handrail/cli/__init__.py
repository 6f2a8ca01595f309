"""Handrail's command line (``handrail``, ``handrail-worker``; a checkout's ``starter.py`` and
``worker.py``): the commands, and their own helpers (printing, process exit)."""
