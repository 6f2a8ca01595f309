"""Test helpers shipped with Handrail: a scripted OpenAI-compatible model server."""
