"""The peers' agents and workflows, one module per peer (imported only when the peer is
installed: ``pip install -e '.[bench]'``), and what they share: the task and the tool's work."""
