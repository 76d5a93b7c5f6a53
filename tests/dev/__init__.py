"""Tests of talentq.dev: the sample agency and the embedded services."""
