"""A message's text as the mail rules read it: HTML made plain, and the part the sender wrote now
told apart from the thread it quotes and the signature under it.

One home for this: Gmail ingest stores ``plain()`` of an HTML-only message, and classification and
extraction read ``readable()`` of what is stored (or of a corpus message, HTML or not).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Final

#: Most characters of markup read; a longer document is cut (its text would be cut anyway).
MAX_MARKUP_CHARS: Final = 400_000

_LOOKS_HTML: Final = re.compile(r"<(?:html|body|div|p|br|table|span|td|a\s)[\s>/]", re.IGNORECASE)
#: The line that opens a forwarded message, in the languages mail clients write it.
_FORWARDED: Final = (
    r"Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado|Messaggio inoltrato|"
    r"Doorgestuurd bericht|Mensagem encaminhada"
)
# "On Fri, 8 Nov 2024 at 09:14, Grace <grace@x.com> wrote:", "Am 12.03.2024 um 11:40 schrieb …:",
# "Le 3 mars 2024 à 10:00, … a écrit :", "El … escribió:", "Il giorno … ha scritto:", "Op … schreef …:",
# "Em … escreveu:", and Outlook's "-----Original Message-----" / "From: … Sent: …" block.
_QUOTE_HEADER: Final = re.compile(
    r"^(?:>?\s*)(?:"
    r"On\b.{0,200}\bwrote:|Am\b.{0,200}\bschrieb\b.{0,200}:|Le\b.{0,200}\ba écrit\s?:|"
    r"El\b.{0,200}\bescribió:|Il\b.{0,200}\bha scritto:|Op\b.{0,200}\bschreef\b.{0,200}:|"
    r"Em\b.{0,200}\bescreveu:|-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|"
    rf"Mensaje original|Messaggio originale|{_FORWARDED})\s*-{{2,}}|"
    r"(?:From|Von|De|Da)\s?:\s.{1,200}\n(?:Sent|Gesendet|Envoyé|Enviado|Inviato|Date|Datum)\s?:)",
    re.IGNORECASE | re.MULTILINE,
)
#: A legal footer's first line: where what the sender wrote ends, their signature included.
_LEGAL_NOTICE: Final = (
    r"(?:This (?:e-?mail|message) (?:and any attachments )?(?:is|may be) confidential|"
    r"Diese E-Mail (?:ist|enthält) vertraulich|Ce message (?:est|et ses pièces jointes sont) confidentiel|"
    r"Questo messaggio .{0,40}riservat|Este (?:mensaje|correo) .{0,40}confidencial)"
)
#: Where the current text ends: a signature's "-- " line or a rule ("_____"), or a legal footer.
_SIGNATURE: Final = re.compile(rf"^(?:-- ?$|_{{5,}}$|{_LEGAL_NOTICE})", re.IGNORECASE | re.MULTILINE)
_LEGAL: Final = re.compile(rf"^{_LEGAL_NOTICE}", re.IGNORECASE | re.MULTILINE)
#: Most lines of a signature kept (name, role, company, address, web address, handle).
SIGNATURE_LINES: Final = 12


_FORWARD_OPENS: Final = re.compile(rf"\s*-{{2,}}\s*(?:{_FORWARDED})\s*-{{2,}}[^\S\n]*\n", re.IGNORECASE)
_FORWARD_FIELD: Final = re.compile(
    r"^[^\S\n]*(?P<field>From|Von|De|Da|Van|Subject|Betreff|Objet|Asunto|Oggetto|Onderwerp|Assunto)"
    r"[^\S\n]?:[^\S\n]*(?P<value>[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Forwarded:
    """The message a forward carries: who wrote it, its subject and its own text."""

    sender: str
    subject: str
    #: Its text as ``readable`` splits it: what its sender wrote, and their signature.
    text: Readable


def forwarded(quoted: str) -> Forwarded | None:
    """The forwarded message ``quoted`` opens with ("---------- Forwarded message ---------", its
    header lines, its text), or None when the quoted part is no forward or names no sender."""
    opens = _FORWARD_OPENS.match(quoted)
    if opens is None:
        return None
    header_end = quoted.find("\n\n", opens.end())
    header = quoted[opens.end() : header_end if header_end >= 0 else len(quoted)]
    fields: dict[str, str] = {}
    for line in _FORWARD_FIELD.finditer(header):
        key = "subject" if line.group("field").lower() not in {"from", "von", "de", "da", "van"} else "sender"
        fields.setdefault(key, line.group("value").strip())
    if "@" not in fields.get("sender", ""):
        return None
    body = quoted[header_end:] if header_end >= 0 else ""
    return Forwarded(fields["sender"], fields.get("subject", ""), readable(body))


@dataclass(frozen=True)
class Readable:
    """A message split for reading: what the sender wrote now, and the thread it quotes."""

    current: str
    quoted: str = ""
    #: The signature a "-- " line or a rule sets apart from ``current`` (its legal footer cut off).
    signature: str = ""

    @property
    def signed(self) -> str:
        """What the sender wrote now with their signature: where a brand names itself."""
        return f"{self.current}\n\n{self.signature}" if self.signature else self.current

    @property
    def whole(self) -> str:
        return f"{self.current}\n{self.quoted}" if self.quoted else self.current


def looks_like_html(body: str) -> bool:
    """True when ``body`` is an HTML document or fragment rather than plain text."""
    return bool(_LOOKS_HTML.search(body[:5000]))


def html_to_text(markup: str) -> str:
    """The text of an HTML body: scripts and styles dropped, block ends as line breaks."""
    markup = _drop_blocks(markup[:MAX_MARKUP_CHARS], "script", "style")
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>|<blockquote[^>]*>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r" *\n *", "\n", text)).strip()


def plain(body: str) -> str:
    """``body`` as plain text, whether it came as HTML or not."""
    return html_to_text(body) if looks_like_html(body) else body


def readable(body: str) -> Readable:
    """What the sender wrote now (quoted lines, the quoted thread and the signature's legal footer
    cut off), and the quoted thread apart."""
    text = plain(body)
    quoted = ""
    if header := _QUOTE_HEADER.search(text):
        text, quoted = text[: header.start()], text[header.start() :]
    # Lines quoted with ">" inline (a reply written between them keeps its own lines).
    lines = text.split("\n")
    own = [line for line in lines if not line.lstrip().startswith(">")]
    if len(own) < len(lines):
        quoted = "\n".join(line for line in lines if line.lstrip().startswith(">")) + "\n" + quoted
    text = "\n".join(own)
    signature = ""
    if footer := _SIGNATURE.search(text):
        text, rest = text[: footer.start()], text[footer.end() :]
        if not _LEGAL.match(footer.group(0)):
            # "--\nIris Navarro\nfounder, kombu & co.": the lines a delimiter sets apart are the
            # signature, up to a legal footer
            if notice := _LEGAL.search(rest):
                rest = rest[: notice.start()]
            signature = "\n".join(rest.strip().splitlines()[:SIGNATURE_LINES])
    return Readable(current=text.strip(), quoted=quoted.strip(), signature=signature)


def _drop_blocks(markup: str, *tags: str) -> str:
    """Remove <script>/<style> blocks in one pass (a regex backtracks badly on unclosed tags)."""
    lower = markup.lower()
    out: list[str] = []
    position = 0
    while True:
        starts = [i for i in (lower.find(f"<{tag}", position) for tag in tags) if i >= 0]
        if not starts:
            return "".join(out) + markup[position:]
        start = min(starts)
        tag = next(t for t in tags if lower.startswith(f"<{t}", start))
        end = lower.find(f"</{tag}>", start)
        out.append(markup[position:start])
        if end < 0:  # unclosed: the rest is the block
            return "".join(out)
        position = end + len(tag) + 3
