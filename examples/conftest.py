"""pytest set-up for the examples, each of which is laid out as a user's own project would be.

In your own project these lines go in ``tests/conftest.py``. Here they sit one folder up because
pytest reads ``pytest_plugins`` only from a conftest it loads before collecting, and the
examples are collected from this folder.
"""

import sys
from pathlib import Path

# A real Temporal dev server for the session: the ``handrail_env`` and ``handrail_client``
# fixtures.
pytest_plugins = ["handrail.testing.fixtures"]

# Each example imports as its own top-level package (``import helpdesk``), without installing.
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpdesk"))
