"""Handrail's command line: ``python starter.py --help``.

The same as the ``handrail`` console script, hosting the store example (its ``demo``, its
profiles) unless ``HANDRAIL_APP`` names another app; the code is in ``handrail/cli/main.py``.
"""

from handrail.cli.main import entry

if __name__ == "__main__":
    entry(default_app="examples.store.app:STORE_APP")
