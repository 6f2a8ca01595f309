"""MCP servers written with the SDK's own server class, for the tests (run over stdio and HTTP)."""
