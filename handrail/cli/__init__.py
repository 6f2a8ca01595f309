"""The pieces of ``starter.py`` that outgrew it: the demo and the printing shared by commands."""
