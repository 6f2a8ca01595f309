"""The reference agent's world: an online store over a real SQLite database."""
