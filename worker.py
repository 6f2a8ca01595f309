"""Run a Handrail worker: ``python worker.py`` (settings from the environment, see ``--help``).

The same as the ``handrail-worker`` console script, hosting the store example unless
``HANDRAIL_APP`` names another app; the code is in ``handrail/cli/worker.py``.
"""

from handrail.cli.worker import entry

if __name__ == "__main__":
    entry(default_app="examples.store.app:STORE_APP")
