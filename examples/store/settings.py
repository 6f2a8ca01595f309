"""The store's own settings: where its database is, and its profiles. Handrail's settings know
nothing of either.

``HANDRAIL_STORE_URL`` (a SQLAlchemy URL, SQLite or PostgreSQL, as ``HANDRAIL_STATE_URL``);
unset, the store is the SQLite file ``<data_dir>/store.db`` beside Handrail's own state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from handrail import HandrailSettings

STORE_FILE = "store.db"
PROFILES: Final = Path(__file__).resolve().parent / "profiles"
"""``store_support`` (answers, read-only) and ``store_actions`` (credits and emails)."""
DEFAULT_PROFILE: Final = "store_support"


class StoreSettings(BaseSettings):
    """Read from ``HANDRAIL_STORE_URL`` (or a ``.env`` file); keyword arguments override it."""

    model_config = SettingsConfigDict(
        env_prefix="HANDRAIL_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        env_ignore_empty=True,
    )

    store_url: SecretStr | None = Field(
        default=None,
        description="The store's database (products, orders, refunds, outbox) as a SQLAlchemy "
        "URL, sqlite or postgresql like HANDRAIL_STATE_URL; unset: <data_dir>/store.db. "
        "Secret: it may hold a password.",
    )

    def target(self, settings: HandrailSettings) -> Path | str:
        """Where the store's database is: ``store_url`` (a secret: show it only redacted), else
        the SQLite file in ``settings``' data folder."""
        if self.store_url is not None:
            return self.store_url.get_secret_value()
        return store_db_path(settings)


def store_db_path(settings: HandrailSettings) -> Path:
    """The store's default SQLite file (when ``HANDRAIL_STORE_URL`` is unset)."""
    return settings.data_dir / STORE_FILE
