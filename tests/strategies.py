"""Hypothesis strategies the property tests share: anything JSON can carry (and what a careless
client sends besides: NaN and infinities)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: hypothesis reads its source to check that it recurses,
    # which fails for a multi-line lambda whose file changed under a long test run.
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


json_values = st.recursive(json_scalars, _nested, max_leaves=8)
