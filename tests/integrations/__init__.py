"""Tests of talentq.integrations: the AI providers (rules and OpenAI-compatible), mail, mailbox, WhatsApp."""
