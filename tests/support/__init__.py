"""Helpers shared by the tests and the bench: live servers, the fake OpenAI server, factories."""
