"""Clients of external services (SMTP, Gmail, WhatsApp, the AI provider); they know nothing of jobs."""
