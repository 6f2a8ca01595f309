"""Model adapters: how a decision is asked of a model and read back.

- ``adapter``: the interface (``ModelAdapter``, ``ModelRequest``, ``ModelReply``);
- ``openai_chat``: the OpenAI-compatible Chat Completions adapter (``OpenAIChatModel``);
- ``errors``: a provider error classified once (retry, honouring ``Retry-After``, or not);
- ``decision_parsing``: a reply turned into a ``Decision`` (tool call, final answer, invalid).

The ``decide`` activity (``handrail/activities/llm.py``) calls an adapter; nothing here is an
activity.
"""
