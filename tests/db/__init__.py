"""Tests of talentq.db: migrations and the tables."""
