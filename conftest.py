"""pytest set-up shared by every test root of this repository (``tests/`` and ``examples/``).

Here, at the root, so that any selection and order of paths (``pytest examples tests/x.py``)
finds the same fixtures: pytest reads ``pytest_plugins`` only from the conftest files it loads
before collecting, and a fixture defined under ``tests/`` is not seen from ``examples/``.

- ``handrail.testing.fixtures``: the testing kit's Temporal servers, as users get them;
- ``tests.secrets_guard``: no configured secret in anything the session produced.
"""

pytest_plugins = ["handrail.testing.fixtures", "tests.secrets_guard"]
