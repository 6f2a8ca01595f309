"""The store's support agent written with the OpenAI Agents SDK, put under Handrail's governance
by ``handrail.frameworks.openai_agents`` (see docs/frameworks.md)."""
