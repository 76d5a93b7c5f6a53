"""The third-party clients a worker builds once, at startup, and hands to every job on its context.

``make_clients`` builds them from the settings: the AI provider (``ctx["ai"]``), the mail
transport (``ctx["mail"]``), the Gmail API (``ctx["gmail"]``) and the WhatsApp API
(``ctx["whatsapp"]``, None while WhatsApp is not configured). A client half configured (an
``AI_PROVIDER``, a ``MAIL_TRANSPORT`` or WhatsApp settings missing what they need) is a
``ConfigError`` naming the settings, so the worker refuses to boot instead of failing every job
later. A feature not configured at all (no mail transport, no Gmail credentials) is a warning at
boot; its jobs fail permanently, saying what to set. Tests hand their own clients (fakes, or
real ones on httpx's MockTransport) through the worker's context the same way.
"""

from __future__ import annotations

from typing import TypedDict

import httpx

from talentq.errors import ConfigError
from talentq.integrations.ai import make_ai_provider
from talentq.integrations.ai.protocol import AIProvider
from talentq.integrations.mail import MailTransport, make_transport
from talentq.integrations.mailbox import GmailClient
from talentq.integrations.mailbox import missing_settings as gmail_missing
from talentq.integrations.whatsapp import WhatsAppClient, missing_settings
from talentq.settings import Settings


class Clients(TypedDict):
    """The clients on every job's context, under these keys."""

    ai: AIProvider
    mail: MailTransport
    gmail: GmailClient
    whatsapp: WhatsAppClient | None


def make_clients(settings: Settings, http: httpx.AsyncClient) -> Clients:
    """Every client, built from ``settings`` on the shared ``http``; ``ConfigError`` if one is half set."""
    whatsapp_missing = missing_settings(settings)
    if whatsapp_missing and len(whatsapp_missing) < 2:
        raise ConfigError(f"WhatsApp is half configured: set {' and '.join(whatsapp_missing)} too")
    return Clients(
        ai=make_ai_provider(settings, http),
        mail=make_transport(settings),
        gmail=GmailClient(http, settings),
        whatsapp=None if whatsapp_missing else WhatsAppClient(http, settings),
    )


def unconfigured(settings: Settings) -> list[str]:
    """A line per feature left unconfigured, naming what to set: the worker logs them at boot."""
    notes = []
    if settings.mail_transport is None:
        notes.append("email-send: no MAIL_TRANSPORT set (smtp or log); email jobs fail until it is")
    gmail = gmail_missing(settings.gmail_client_id, settings.gmail_client_secret)
    if gmail:
        notes.append(f"gmail-ingest: {' and '.join(gmail)} not set; mailbox syncs fail until they are")
    if missing_settings(settings):
        notes.append(f"whatsapp-sync: {' and '.join(missing_settings(settings))} not set; syncs are skipped")
    return notes
