"""Tests of talentq.crons: each cron's run at its tick, on the real Redis and PostgreSQL."""
