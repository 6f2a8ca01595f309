"""An IT helpdesk agent on Handrail: a user's project, built on Handrail's public API only.

``helpdesk.tickets`` is the team's ticket system, ``helpdesk.tools`` the agent's tools,
``profiles/helpdesk.toml`` its policy, ``helpdesk.worker`` the worker to run.
"""

from pathlib import Path

#: The folder of this agent's profiles (``helpdesk.toml``).
PROFILES = Path(__file__).resolve().parent.parent / "profiles"
PROFILE = "helpdesk"
