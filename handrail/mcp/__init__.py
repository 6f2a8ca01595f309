"""MCP servers as tool sources (the ``mcp`` extra).

``connection`` talks to one server; ``tools`` turns its tools into specs and its call activity.
"""
