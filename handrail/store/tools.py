"""The store's tools as the model sees them: names, descriptions and argument models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from handrail.text_types import PlainText, SingleLine
from handrail.tools import ToolSpec


class LookupPriceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: SingleLine = Field(
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
    summary="price of {product}",
)
GET_ORDER = ToolSpec(
    name="get_order",
    description="Look up an order by its number: status, items and total.",
    arguments=GetOrderArgs,
    read_only=True,
    summary="order {order_id}",
)


# Money travels as a decimal string ("12.50"): exact, and its JSON schema can say everything
# the pydantic type checks, so the policy (which validates against the schema inside the
# workflow) refuses exactly what the tool would refuse.
MONEY_PATTERN = r"^(?!0+(?:\.0+)?$)[0-9]{1,8}(?:\.[0-9]{1,2})?$"
Money = Annotated[
    Decimal,
    Field(gt=0, max_digits=10, decimal_places=2),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": 'Amount in the order\'s currency, e.g. "12.50".',
        }
    ),
]


class CreditArgs(BaseModel):
    """A credit against what the customer paid: the shape shared by discounts and refunds."""

    model_config = ConfigDict(extra="forbid")

    order_id: int = Field(gt=0)
    amount: Money
    reason: PlainText = Field(min_length=1, max_length=500)


class ApplyDiscountArgs(CreditArgs):
    """Arguments of ``apply_discount``."""


class IssueRefundArgs(CreditArgs):
    """Arguments of ``issue_refund``."""


class SendEmailArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: int = Field(gt=0, description="The order whose customer receives the email.")
    # The subject becomes a mail header: one line, no control characters (header injection).
    subject: SingleLine = Field(min_length=1, max_length=200)
    body: PlainText = Field(min_length=1, max_length=5000)


APPLY_DISCOUNT = ToolSpec(
    name="apply_discount",
    description="Grant a discount on an order, as a credit in the order's currency.",
    arguments=ApplyDiscountArgs,
    compensation="revoke_discount",
    amount_field="amount",
    summary="{amount} off order {order_id}",
)
ISSUE_REFUND = ToolSpec(
    name="issue_refund",
    description="Refund part or all of what the customer paid for an order.",
    arguments=IssueRefundArgs,
    compensation="void_refund",
    amount_field="amount",
    summary="{amount} on order {order_id}",
)
SEND_EMAIL = ToolSpec(
    name="send_email",
    description="Email the customer of an order. Cannot be unsent: it goes out when the task "
    "completes successfully.",
    arguments=SendEmailArgs,
    irreversible=True,
    # The body is free text about a customer: kept out of traces, logs and exports.
    sensitive=("body",),
    summary="to the customer of order {order_id}: {subject}",
)

STORE_TOOLS: tuple[ToolSpec, ...] = (
    LOOKUP_PRICE,
    GET_ORDER,
    APPLY_DISCOUNT,
    ISSUE_REFUND,
    SEND_EMAIL,
)
