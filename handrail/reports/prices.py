"""Model prices for ``stats``' cost estimates: USD per million tokens, matched by model name or
its longest known prefix, so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``.

The prices are *estimates* of public list prices, without discounts or caching: pass
``prices=`` to ``compute_stats`` to use your own. A model not in the table is counted as
unpriced, never as free.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field


class Price(BaseModel):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


# Estimates from public list prices (USD per 1M tokens, standard tier); check your contract.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "o4-mini": Price(input=1.10, output=4.40),
    "o3-mini": Price(input=1.10, output=4.40),
    "o3": Price(input=2.00, output=8.00),
}


def price_of(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with."""
    if model in prices:
        return prices[model]
    best = max((name for name in prices if model.startswith(name)), key=len, default=None)
    return prices[best] if best is not None else None
