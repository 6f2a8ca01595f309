"""Profiles shipped with Handrail (TOML files)."""
