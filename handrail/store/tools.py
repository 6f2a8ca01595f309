"""The store's tools as the model sees them: names, descriptions and argument models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from handrail.tools import ToolSpec


class LookupPriceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str = Field(
        min_length=1, max_length=200, description="Product name, as the customer said it."
    )


class GetOrderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: int = Field(gt=0, description="The order number.")


LOOKUP_PRICE = ToolSpec(
    name="lookup_price",
    description="Look up a product's current price and currency by its name.",
    arguments=LookupPriceArgs,
    read_only=True,
)
GET_ORDER = ToolSpec(
    name="get_order",
    description="Look up an order by its number: status, items and total.",
    arguments=GetOrderArgs,
    read_only=True,
)

STORE_TOOLS: tuple[ToolSpec, ...] = (LOOKUP_PRICE, GET_ORDER)
