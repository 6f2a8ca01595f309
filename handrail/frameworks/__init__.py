"""Adapters that put an agent built with another framework under Handrail's governance
(``handrail.governance``): ``handrail.frameworks.openai_agents`` for the OpenAI Agents SDK,
``handrail.frameworks.pydantic_ai`` for pydantic-ai. Each needs its framework installed
(``handrail[openai-agents]``, ``handrail[pydantic-ai]``); the core imports neither."""
