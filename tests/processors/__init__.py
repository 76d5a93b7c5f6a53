"""Tests of talentq.processors: one queue's job each, on the real Redis and PostgreSQL."""
