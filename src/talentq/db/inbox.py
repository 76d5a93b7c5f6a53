"""Inbox messages as the mail pipeline (inbox-triage, deal-extraction) reads and writes them."""

from __future__ import annotations


class MessageChanged(Exception):
    """A message changed between reading it and storing what the AI made of it: transient.

    The retry reads the message again and asks afresh; nothing computed from a text the
    message no longer has is ever stored.
    """
