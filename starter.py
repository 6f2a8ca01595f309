"""Handrail's command line: ``python starter.py --help``.

The same as the ``handrail`` console script; the code is in ``handrail/cli/main.py``.
"""

from handrail.cli.main import entry

if __name__ == "__main__":
    entry()
