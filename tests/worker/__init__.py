"""Tests of talentq.worker: the loop under faults and the worker's boot."""
