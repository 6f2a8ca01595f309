"""Framework adapters: an agent built with another framework, put under Handrail's governance
through that framework's own seams (``handrail.frameworks.openai_agents`` for the OpenAI Agents
SDK, ``handrail.frameworks.pydantic_ai`` for pydantic-ai). Each is an optional extra
(``handrail[openai-agents]``, ``handrail[pydantic-ai]``); the core imports neither."""
