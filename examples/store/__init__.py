"""The store support agent: Handrail's reference example, built on its public API.

An online store's database (``database``), the agent's tools over it (``tools``), its
profiles (``profiles/``), its worker (``worker``), its demo (``starter``), the scripted model
that plays its customers' clerk without an API key (``clerk``), and the app that Handrail's
runtime hosts (``app``). See README.md.
"""
