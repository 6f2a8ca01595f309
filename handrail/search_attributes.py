"""The custom search attributes Handrail sets, defined once: the workflow upserts them, the
embedded dev server and the worker register them, ``starter.py pending`` queries them."""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

AWAITING_REVIEW: Final = SearchAttributeKey.for_bool("AwaitingReview")
REVIEW_TIER: Final = SearchAttributeKey.for_keyword("ReviewTier")
REVIEW_TOOL: Final = SearchAttributeKey.for_keyword("ReviewTool")
PROFILE: Final = SearchAttributeKey.for_keyword("HandrailProfile")
STATUS: Final = SearchAttributeKey.for_keyword("HandrailStatus")
TOKENS: Final = SearchAttributeKey.for_int("HandrailTokens")

ALL: Final[
    tuple[SearchAttributeKey[bool] | SearchAttributeKey[str] | SearchAttributeKey[int], ...]
] = (
    AWAITING_REVIEW,
    REVIEW_TIER,
    REVIEW_TOOL,
    PROFILE,
    STATUS,
    TOKENS,
)

#: The visibility query for tasks waiting on a person.
PENDING_QUERY: Final = f"{AWAITING_REVIEW.name} = true"
