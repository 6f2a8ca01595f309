"""Alembic migrations of Handrail's state database (run by ``handrail.storage.migrate``)."""
