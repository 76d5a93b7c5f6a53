"""Tests of talentq.domain: the rules, as plain functions on plain data (no Redis, no PostgreSQL)."""
