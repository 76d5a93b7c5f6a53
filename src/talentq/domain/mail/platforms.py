"""Deliverables as brands ask for them: which platform, how many, and whether it is optional.

Reads counts written as digits, ``3x``, or words in English, German, French, Spanish, Italian, Dutch
and Portuguese ("zwei Reels", "une vidéo YouTube", "dos publicaciones", "un post su Instagram"),
tables where the count follows the item ("Instagram Reel 2x"), counts across periods ("2 stories a
month for 3 months" = 6), and items marked optional ("nice to have", "gerne auch", "opcional").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from talentq.domain.mail.terms import Deliverable
from talentq.domain.vocabulary import MAX_UNITS

NUMBER_WORDS: Final = {
    # en
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12,
    # de
    "ein": 1, "eine": 1, "einen": 1, "einem": 1, "einer": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5,
    "sechs": 6, "acht": 8, "zehn": 10,
    # fr
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "huit": 8, "dix": 10,
    # es / it / pt
    "uno": 1, "una": 1, "un'": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "due": 2,
    "tre": 3, "quattro": 4, "cinque": 5, "sei": 6, "um": 1, "uma": 1, "dois": 2, "duas": 2, "três": 3,
    # nl
    "een": 1, "één": 1, "twee": 2, "drie": 3, "vijf": 5,
}  # fmt: skip
_COUNT: Final = (
    r"(?P<count>\d{1,2}(?![\d.,'\u2019])|"
    + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True))
    + ")"
)
# Words allowed between a count and the item ("1 dedicated YouTube video", "2 gesponserte Twitch Streams").
_FILLER: Final = (
    r"(?:(?:dedicated|dedizierte[nms]?|zusätzliche[nrs]?|supplémentaires?|adicional(?:es)?|aggiuntiv[oaie]|"
    r"long[- ]form|in[- ]depth|petite?s?|small|little|kleine[nrs]?|pequeñ[oa]s?|piccol[oaie]|"
    r"sponsorizzat[oaie]|dedicad[oa]s?|dedicat[oa]|dédiée?s?|sponsored|gesponserte[n]?|"
    r"patrocinad[oa]s|sponsoris[ée]e?s|gesponserter|ausführliche[nm]?|kurze[n]?|short|full|extra|additional|organic|"
    r"review|recipe|feed|carousel|native|live|separate|eigene[n]?|weitere[n]?|"
    r"honest|ehrliche[nmrs]?|honnêtes?|eerlijke|onest[oaie]|honest[oa]s?|sincer[oa]s?|"
    r"\d{1,3}[- ]?(?:seconds?|second|sec|s|minutes?|min|sekunden|secondes|segundos|secondi)|"
    # "a 60-90 second integration"; not minutes, which a range gives an episode of anything
    r"\d{1,3}[-\u2013]\d{1,3}[- ]?(?:seconds?|second|sec|sekunden|secondes|segundos|secondi)|"
    r"\d{1,2}[- ]?(?:hours?|h|stunden|std\.?|heures?|horas?|ore)|"
    r"\d{1,3}-(?:second|minute))\s+){0,2}"
)
_IG: Final = r"(?:instagram|insta|ig)"
# (pattern, platform); tried in order, first full match wins. Word order of all five languages.
_ITEMS: Final[list[tuple[str, str]]] = [
    (r"(?:vid[eé]os? )?(?:youtube|yt)[- ]shorts?|shorts?(?: (?:de |su |auf |on |sur )?youtube)?",
     "youtube_short"),
    (r"(?:v[ií]d[eé]os? (?:de |su )?)?tik ?toks?(?:[- ]videos?)?", "tiktok"),
    (rf"(?:{_IG}[- ])?(?:stor(?:y|ys|ies)|stori[ae]|historias?|stories?)(?:[- ]sets?)?"
     rf"(?: (?:de |en |su |auf |on |sur )?{_IG})?", "instagram_story"),
    (rf"(?:{_IG}[- ])?reels?(?: (?:de |en |su |auf |on |sur )?{_IG})?", "instagram_reel"),
    (r"(?:[a-zà-ÿ]+-)?(?:posts?|publicaci(?:ón|ones)|publications?|beitr(?:ag|äge)|tweets?)"
     r" (?:(?:on|auf|su|en|sur|op) )?(?:x|twitter)\b|(?:x|twitter)(?: \(twitter\)|/twitter)?[- ](?:posts?|"
     r"beitr(?:ag|äge))"
     r"|tweets?", "x_post"),
    (r"(?:posts?|publicaci(?:ón|ones)|publicaç(?:ão|ões)|publications?|beitr(?:ag|äge)) "
     r"(?:on|auf|su|en|sur|op|no|na) threads"
     r"|threads[- ]posts?", "threads_post"),
    (r"(?:posts?|publicaci(?:ón|ones)|publicaç(?:ão|ões)|publications?|beitr(?:ag|äge)) "
     r"(?:(?:on|auf|su|en|sur|op|no|na) )?linkedin"
     r"|linkedin[- ](?:posts?|beitr(?:ag|äge)|articles?)", "linkedin_post"),
    (r"(?:pinterest[- ])?(?:pins?|épingles?)(?: (?:de |su |on |sur |auf )?pinterest)?", "pinterest_pin"),
    (rf"(?:{_IG}[- ])?(?:posts?|publications?|publicaci(?:ón|ones)|publicaç(?:ão|ões)|beitr(?:ag|äge)|"
     r"feed[- ]posts?|carrousels?|carousels?|karussells?|carosell[oi]|carrusel(?:es)?)"
     r"(?: (?:no|in the|on the|im|dans le|sur le|en el|nel|in) feed)?"
     rf"(?: (?:en |su |auf |on |sur |op |in )?(?:(?:su |seinem |ihrem |son |her |his )?feed (?:de |"
     rf"di )?)?{_IG})?"
     r"(?: (?:in|im|en) (?:carrousel|karussell|carosello)(?: (?:sur|su|auf) instagram)?)?", "instagram_post"),
    (r"(?:youtube|yt)[- ](?:videos?|vídeos?|vidéos?|integrations?|vlogs?|reviews?)|(?:vid[eé]os?|vídeos?)"
     r" (?:de |su |sur |auf )?(?:youtube|yt)|(?:dedicated )?(?:youtube )?(?:review )?videos?|"
     r"(?:integra(?:tions?|zion[ei]|ción|ciones)|intégrations?|integrationen)"
     r"(?:[- ](?:youtube|yt)| (?:on|sur|su|en|auf) (?:youtube|yt))?", "youtube_video"),
    (r"(?:twitch[- ])?(?:live[- ]?|[a-zà-ÿ]+-)?streams?(?: (?:on|auf|en|su|sur) twitch)?"
     r"|directos?(?: (?:en|de) twitch)?"
     r"|dirette?(?: su twitch)?|lives? (?:(?:sur|on|su|en|auf|na|no) )?twitch", "twitch_stream"),
    (r"blog[- ]?(?:posts?|artikel|articles?|beiträge|beitrag)|articles? (?:sur|on) (?:son|his|her) blog|"
     r"articles? de blog|artículos? (?:de|para|en) (?:su |el )?blog|articol[oi] (?:di|per il|sul) blog|"
     r"articolo (?:sul|sul suo) blog|artículos? (?:en|de) (?:su )?blog|articles?|articol[oi]|artículos?",
     "blog_post"),
    (r"podcast[- ]?(?:episod(?:en|es?|ios?|i)|épisodes?|folgen?|ads?|spots?)?|"
     r"(?:episod(?:es?|ios?|i)|épisodes?|folgen?|puntat[ae])"
     r"(?: (?:sponsoris\w+|sponsorizzat\w+|patrocinad\w+|gesponsert\w*|sponsored))?"
     r"(?: (?:of|del|du|des|de|di) (?:the |su |suo |son |sa |tu |seinem |ihrem |his |her )?podcast)?"
     r"|host[- ]read ads?|(?:host[- ]read )?(?:mid|pre)[- ]rolls?(?: ads?| reads?)?",
     "podcast"),
]  # fmt: skip
_ITEM_ALT: Final = "|".join(f"(?:{pattern})" for pattern, _ in _ITEMS)
_COMPILED: Final = [(re.compile(pattern, re.IGNORECASE), name) for pattern, name in _ITEMS]
_MENTION: Final = re.compile(
    rf"(?:(?<=\bd['\u2019])|(?<![\w'\u2019])){_COUNT}[^\S\n]?"
    # "3x Reels", "2 x TikTok"; but "3 X posts" are posts on X
    rf"(?:(?!(?-i:X)[^\S\n]+(?:posts?|beitr))(?:x|\u00d7)[^\S\n]?)?{_FILLER}(?P<what>{_ITEM_ALT})(?![\w-])",
    re.IGNORECASE,
)
# One of the creator's own items: "in one of your YouTube videos", "dans l'une de vos prochaines vidéos".
_ONE_OF: Final = re.compile(
    r"\b(?:one of|l['\u2019]une? de|un[oa] de|uno dei|una delle|eine[mrs]? (?:deiner|ihrer|seiner))\s+"
    r"(?:your|his|her|their|vos|ses|leurs|tus|sus|tuoi|suoi|deiner|ihrer|seiner)\s+"
    r"(?:(?:next|upcoming|prochaines?|pr[oó]xim[oa]s|prossim[ie]|nächsten)\s+)?"
    rf"(?P<what>{_ITEM_ALT})(?![\w-])",
    re.IGNORECASE,
)
# Table rows: the item first, then the count ("Instagram Reel 2x Juni", "YouTube Shorts 2").
_ROW: Final = re.compile(
    # "1. YouTube video 1": a numbered list's number is no count
    rf"^[\s•\-\u2013→✔*]*(?:\d{{1,2}}[.)]\s+)?(?P<what>{_ITEM_ALT})(?:\s*\([^)\n]{{0,60}}\)|\s+(?:dédiée?|dedicated|dedicad[oa]|"
    rf"dedicat[oa]|dedizierte?s?)"
    # "Intégration YouTube de 60 secondes 1", "Instagram Stories with link sticker 3x", "Twitch-Stream
    # (2 Std.) im Titan Pro 1x", "Vidéo YouTube dédiée (recette …) 1 semaine du 18 mai"
    r"|\s+(?:de|of|von|di|da)\s+\d{1,3}\s*(?:secondes|seconds|sec|s|min|minutes|sekunden|secondi|segundos)"
    r"|\s+(?:with|mit|avec|con|im|in|on|en|su|sur)\s+[^\W\d][^\n\d(]{0,28}?"
    r"(?=\s+\d{1,2}(?:\s?x|\s+[^\W\d]|\s*$))){0,2}"
    r"\s+(?P<count>\d{1,2})\s?x?(?![\d.,:/])",
    re.IGNORECASE | re.MULTILINE,
)
# An item asked without a count is one: "Reel + 3 stories", "- Instagram Reel (45-60 s)". Only items that
# name their platform, and not a priced line of a rate card ("- TikTok: $2,000").
# Items that name their platform, counted as one without a count, unless a price follows on the line
# (a rate card's "- TikTok: $2,000").
_NAMED_ITEM: Final = (
    r"(?:instagram|ig|insta)[- ](?:reel|post|story)|tik ?tok|(?:youtube|yt)[- ](?:video|short|integration)|"
    r"reel|linkedin[- ]post|threads[- ]post|pinterest[- ]pin|blog ?post|twitch[- ]stream|carrousel|carousel"
)
_NOT_PRICED: Final = r"(?![\w-])(?![^\n]{0,30}?:[ \t]*[$€£¥\d])"
_BARE: Final = re.compile(
    # "- Reel", "+ Reel", "and a Reel", and "Reel + 2 storie" (an item that a "+ count" follows)
    r"(?:^[ \t]*[•\-\u2013→✔*][ \t]*|\+[ \t]*|\b(?:plus|and|und|et|y|e)[ \t]+|(?<=[,;:] )(?=\w+ ?\+ ?\d))"
    rf"(?P<what>{_NAMED_ITEM}){_NOT_PRICED}",
    re.IGNORECASE | re.MULTILINE,
)
# An item named with a definite article is one when the mail asks for it: "für das YouTube-Video plus 2
# Shorts", "we'd love the Reel to go live in May", "pour la vidéo YouTube" (not "loved the Reel you did").
_DEFINITE: Final = re.compile(
    r"\b(?P<lead>for|für|pour|para|per|plus|and|und|et|y|e)?[ \t]*"
    r"\b(?:the|das|den|die|le|la|l['\u2019]|el|il|lo)[ \t]*"
    # "et le Short": a Short only when capitalised, as the platform's item is written
    rf"(?P<what>tik ?tok[- ]video|vid[eé]o youtube|(?-i:Shorts?)|{_NAMED_ITEM}){_NOT_PRICED}",
    re.IGNORECASE,
)
_ASK: Final = re.compile(
    r"would (?:like|love)|we'd (?:like|love)|looking for|we (?:want|need)|request|möchten|würden|wünschen|"
    r"gewünscht|brauchen|souhait|aimerions|voudrions|cherchons|nos gustaría|queremos|buscamos|necesitamos|"
    r"vorremmo|cerchiamo|chiediamo|vogliamo|include|includes|inklusive|comprend|incluye|include",
    re.IGNORECASE,
)
_PAST: Final = re.compile(
    r"\b(?:did|made|posted|saw|loved|last|previous|gemacht|gepostet|letzte\w*|fait|dernier|dernière|hiciste|"
    r"pasad[oa]|fatto|scors[oa])\b",
    re.IGNORECASE,
)
_OPTIONAL: Final = re.compile(
    r"optional|optionnel|en option|opcional|facoltativ|facultati|nice[- ]to[- ]have|"
    r"if possible|si possible|se possibile|si es posible|wenn möglich|falls möglich|se possível|"
    r"if (?:you|he|she|they) (?:like|"
    r"likes|"
    r"want|wants|fancy|fancies)|(?:only )?if \w+ (?:wants|likes) to|gerne auch|nicht verpflichtend|kein muss|"
    r"not required|no pressure|bonus|si (?:le|te|lui) apetece|se ti va|se vuoi|si (?:elle|il) (?:a envie|"
    r"veut)|"
    r"wenn \w+ (?:das )?(?:sowieso|möchte|mag|lust)|wenn du magst|falls gewünscht|no es obligatorio|"
    r"non obbligatori|\bonly if\b|seulement si|solo si\b|nur wenn|solo se\b|(?:le|te|les) apetece|"
    r"aucune obligation|no obligation|keine verpflichtung|ningún compromiso|nessun obbligo",
    re.IGNORECASE,
)
_PERIOD_UNIT: Final = r"(?P<unit>month|mois|monat|mese|mes|maand|week|semaine|woche|settimana|semana|mês)"
# "a month", "per week", "pro Monat", "par semaine", "al mese", "por semana"
_PER_PERIOD: Final = re.compile(
    rf"\b(?:a|a la|per|each|every|pro|par|al|por|je|à la)\s+{_PERIOD_UNIT}\b", re.IGNORECASE
)
_MONTHS_OR_WEEKS: Final = (
    r"(?P<unit2>months?|mois|monate?n?|mesi|meses|maanden|weeks?|semaines|wochen|settimane|semanas)\b"
)
#: What usage rights are said with: their months are not the campaign's.
RIGHTS_WORDS: Final = r"usage|rights|nutzung|droits|diritti|derechos"
_FOR_PERIODS: Final = re.compile(
    rf"\b(?:for|over|during|pendant|durant|während|für|durante|per|sur|über|voor)\s+"
    # "for the first 4 weeks", "pendant les 3 semaines", "für die nächsten 2 Monate"
    r"(?:(?:the|les|die|den|los|las|le|i|gli|het)\s+)?"
    r"(?:(?:first|next|premières?|ersten|nächsten|primeras?|próximas?|prime|prossime|eerste)\s+)?"
    # "during the 3 campaign weeks"
    rf"{_COUNT}\s+(?:(?!few\b|more\b)[^\W\d]+\s+)?{_MONTHS_OR_WEEKS}",
    re.IGNORECASE,
)
_MONTH_NAME: Final = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"januar|februar|märz|juni|juli|oktober|dezember|janvier|février|mars|avril|mai|juin|juillet|août|"
    r"septembre|octobre|novembre|décembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
    r"octubre|noviembre|diciembre|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|"
    r"dicembre|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|dezembro)"
)
#: The months a campaign runs, named: "for January, February and March" is three of them.
_FOR_MONTH_LIST: Final = re.compile(
    rf"\b(?:for|in|during|durante|pendant|en|während|im|per|nei mesi di|in den monaten)\s+"
    rf"(?P<list>{_MONTH_NAME}(?:(?:,\s*|\s+(?:and|und|et|y|e|en)\s+){_MONTH_NAME})+)\b",
    re.IGNORECASE,
)
#: A campaign's length said once for the whole mail ("6-month ambassadorship", "Laufzeit: 4 Monate").
_DURATION: Final = re.compile(
    rf"(?<![\w'\u2019]){_COUNT}[- ]{_MONTHS_OR_WEEKS}(?![^.\n]{{0,25}}(?:{RIGHTS_WORDS}|organi))",
    re.IGNORECASE,
)
_EVERY: Final = re.compile(
    rf"\b(?:every|alle|tous les|cada|ogni)\s+{_COUNT}\s+(?:months|monate|mois|meses|mesi)\b", re.IGNORECASE
)
_OPTIONAL_NEXT: Final = re.compile(
    r"\W{0,4}(?:totally|completely|entirely|purely|totalmente|completamente|entièrement|tout à fait|ganz|"
    r"völlig|del tutto|assolutamente)?\s?(?:optional|opcional|optionnel|facoltativ\w*|facultati\w*)\b"
    r"\)?[^\S\n]*(?:[.!]|\n|$)",
    re.IGNORECASE,
)
#: Words that put the item after them in an earlier version of the offer.
_EARLIER: Final = re.compile(
    r"\b(?:previously|originally|before it was|prima erano|erano|were|waren|vorher|zuvor|auparavant|"
    r"étaient|antes eran|eran)\s*$",
    re.IGNORECASE,
)
#: Words that put the item after them outside the offer: "we're not able to do three Reels at $1,000
#: each", "we can't stretch to the card for a single post".
_DECLINED: Final = re.compile(
    r"(?:can['\u2019]?t(?! wait)|cannot|(?:are|am|is)n['\u2019]t able to|not able to|unable to|"
    r"won['\u2019]?t be able to|können (?:leider )?(?:keine|nicht)|ne pouvons pas|no podemos|non possiamo|"
    # up to the item, unless a "but" turns to what is asked: "no podemos pagar, pero sí 1 reel"
    r"non riusciamo)\b(?:(?!\b(?:but|pero|aber|mais|ma|però|maar|mas)\b)[^.\n!?]){0,40}$",
    re.IGNORECASE,
)
#: "(one a week)", "(um por semana)": one of the items per period, so the count is already the total.
_ONE_EACH: Final = re.compile(r"\b(?:one|um|uma|un|une|uno|una|ein|eine|eins|één|een|1)\s*$", re.IGNORECASE)
_RIGHTS: Final = re.compile(rf"{RIGHTS_WORDS}|licen[cs]e|whitelist", re.IGNORECASE)
_WEEKLY: Final = re.compile(r"week|semaine|woche|settiman|semana", re.IGNORECASE)
_RESTATED: Final = re.compile(r"^\s*(?:au total|in total|en total|in totale|insgesamt|total)", re.IGNORECASE)
_CLAUSE: Final = re.compile(r"(?<=[.!?;])\s+(?=\S)|\n|(?<=\))\s*,")


@dataclass(frozen=True)
class Mention:
    """One deliverable as written: where, what, how many (periods applied) and whether optional."""

    platform: str
    count: int
    optional: bool
    start: int
    end: int
    text: str


def platform_of(words: str) -> str | None:
    """The platform an item's words name ("IG Reels" → instagram_reel)."""
    words = re.sub(r"\s+", " ", words.strip())
    for pattern, name in _COMPILED:
        if pattern.fullmatch(words):
            return name
    return None


def _count(raw: str) -> int:
    raw = raw.lower()
    return int(raw) if raw.isdigit() else NUMBER_WORDS.get(raw, 1)


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = max(
        (m.end() for m in _CLAUSE.finditer(text, max(0, start - 300), start)), default=max(0, start - 300)
    )
    right_match = _CLAUSE.search(text, end, end + 300)
    return left, right_match.start() if right_match else min(len(text), end + 300)


def _periods(text: str) -> tuple[int, str] | None:
    """How many months (or weeks) the whole campaign runs, when the mail says so once, and the unit;
    not how long usage rights run ("derechos de uso … 6 meses")."""
    for match in _DURATION.finditer(text):
        if not _RIGHTS.search(text[max(0, match.start() - 50) : match.start()]):
            return _count(match.group("count")), match.group("unit2")
    return None


def find_mentions(text: str) -> list[Mention]:
    """Every deliverable mention in ``text``, in order."""
    found: list[Mention] = []
    campaign_periods = _periods(text)
    optional_section = _optional_sections(text)
    per_period_section = _per_period_sections(text)
    spans: list[tuple[int, int, str, str]] = [
        (m.start(), m.end(), m.group("count"), m.group("what")) for m in _MENTION.finditer(text)
    ]
    counted = {platform_of(what) for _, _, _, what in spans}
    for row in _ROW.finditer(text):
        if not any(s <= row.start("what") < e for s, e, _, _ in spans):
            spans.append((row.start("what"), row.end(), row.group("count"), row.group("what")))
    for one in _ONE_OF.finditer(text):
        if not any(s <= one.start("what") < e for s, e, _, _ in spans):
            spans.append((one.start("what"), one.end(), "1", one.group("what")))
    for bare in _BARE.finditer(text):
        if not any(s <= bare.start("what") < e for s, e, _, _ in spans):
            spans.append((bare.start("what"), bare.end(), "1", bare.group("what")))
    for item in _DEFINITE.finditer(text):
        if any(s <= item.start("what") < e for s, e, _, _ in spans):
            continue
        left, right = _clause_bounds(text, item.start(), item.end())
        near = text[max(left, item.start() - 30) : min(right, item.end() + 25)]
        if platform_of(item.group("what")) in counted:
            continue  # "si se incluye el reel": the Reel counted above, not one more
        if (item.group("lead") or _ASK.search(text[left:right])) and not _PAST.search(near):
            spans.append((item.start("what"), item.end(), "1", item.group("what")))
    spans.sort()
    tiktok_only = re.search(r"tik ?tok", text, re.I) and not re.search(r"youtube|\byt\b", text, re.I)
    # Episodes are a podcast's only where the mail is about one (its words, its ad slots, its listeners).
    podcast_mail = re.search(
        r"podcast|host[- ]read|(?:pre|mid|post)[- ]roll|\blisten(?:ers?|ing)\b|hörer|zuhör|auditeur|"
        r"auditrice|oyentes|ascoltator",
        text,
        re.I,
    )
    for start, end, raw_count, what in spans:
        platform = platform_of(what)
        if platform is None:
            continue
        if (
            platform == "youtube_video"
            and tiktok_only
            and re.fullmatch(r"(?:review )?vid[eé]os?", what, re.I)
        ):
            platform = "tiktok"  # "a TikTok series: 3 videos"
        # A bare "video"/"post" only counts where it is an ask, not "the two videos" of a past campaign.
        count = _count(raw_count)
        before = text[max(0, start - 12) : start].lower()
        if re.search(r"\b(?:the|les|die|der|los|las|i|le|gli|de)\s*$", before) and not raw_count.isdigit():
            continue
        if (
            raw_count.lower() in {"a", "an", "un", "une", "ein", "eine", "una", "uno"}
            and platform
            in {
                "youtube_video",
                "blog_post",
            }
            and not re.search(
                r"youtube|yt|integra|blog|dedicated|dedizierte|dédiée|dedicat", text[start:end], re.I
            )
        ):
            continue
        if (
            raw_count.lower() in {"a", "une", "una", "uma"}
            and platform == "instagram_post"
            and re.fullmatch(r"publica\w+", what, re.I)
        ):
            continue  # "une publication fin avril": publishing, not a post, unless the platform is named
        left, right = _clause_bounds(text, start, end)
        clause = text[left:right]
        after = text[end:right]
        if _RESTATED.match(after) and any(m.platform == platform for m in found):
            continue
        if re.search(
            r"\b(?:alle|all|both|beide[n]?|tous les|todos los|tutti i|as|als|comme|como|come)\s*$", before
        ):
            continue
        if platform == "youtube_short" and not re.search(r"youtube|yt|Short|shorts", what):
            continue  # "a short thread" is no YouTube Short
        if platform == "podcast" and podcast_mail is None and not re.search(r"podcast|roll|host", what, re.I):
            continue  # "one episode" of a YouTube series is no podcast; the mail says when it is
        if _EARLIER.search(text, max(left, start - 25), start):
            continue  # "(prima erano 6 storie …)": what an earlier version asked
        if _DECLINED.search(text, max(left, start - 50), start):
            continue
        # A period belongs to the item it follows up to the next comma, or opens the line it leads.
        tail = re.split(r",|\bthen\b|\bpuis\b|\bdann\b|\bpoi\b|\bluego\b", after, maxsplit=1)[0]
        per = _PER_PERIOD.search(tail)
        if per and _ONE_EACH.search(tail, 0, per.start()):
            per = None  # "3 Reels (um por semana)": the count is the total, spread one a period
        elif per is None and (lead := _PER_PERIOD.search(text, left, start)):
            # "pro Monat ein Beitrag und drei Stories" leads both items; in "1 storia a settimana per 4
            # settimane (… 6 storie)" it belongs to the item before it
            per = None if any(left <= m.start < lead.start() for m in found) else lead
        section = next((sec for sec in per_period_section if sec[0] <= start < sec[1]), None)
        unit = per.group("unit") if per else section[2] if section else None
        if unit:
            local = _FOR_PERIODS.search(text[end:right]) or _FOR_PERIODS.search(text[left:start])
            # how many periods: said beside the item, else by the heading it sits under, else once a mail
            heading_said = section[3] if section and per is None else None
            said = (_count(local.group("count")), local.group("unit2")) if local else None
            if said is None and (named := _FOR_MONTH_LIST.search(text, end, right)):
                said = (len(re.findall(_MONTH_NAME, named.group("list"), re.IGNORECASE)), "months")
            said = said or heading_said or campaign_periods
            periods, period_unit = said or (0, None)
            if periods and _same_unit(unit, period_unit):
                count *= periods
        elif (every := _EVERY.search(tail)) and campaign_periods and _same_unit("month", campaign_periods[1]):
            # "1 Reel every three months" over a 6-month term: 2
            step, periods = _count(every.group("count")), campaign_periods[0]
            if step and periods % step == 0:
                count *= periods // step
        if not 1 <= count <= MAX_UNITS:
            continue
        # "… en una story, ¡nos haría ilusión! Totalmente opcional.": the next sentence says so.
        if _OPTIONAL_NEXT.match(text, right, right + 40):
            optional_section.append((start, end))
        optional = bool(_OPTIONAL.search(clause)) or any(s <= start < e for s, e in optional_section)
        found.append(Mention(platform, count, optional, start, end, text[start:end]))
    return _optional_items(text, found, optional_section)


_ADJOINING: Final = r"[\s(\[\u2013\u2014-]{0,3}"


def _optional_items(text: str, found: list[Mention], sections: list[tuple[int, int]]) -> list[Mention]:
    """Where a clause lists several items, an optional cue marks the item it stands with: the one it follows
    ("1 Reel (optional), 2 stories"), else the one it leads ("2 Reels and optionally a story"); all of them
    when it opens the clause ("Optional: a Reel and a story")."""
    marked: set[int] = set()
    for k, mention in enumerate(found):
        if not mention.optional or any(s <= mention.start < e for s, e in sections):
            continue
        left, right = _clause_bounds(text, mention.start, mention.end)
        peers = [j for j, m in enumerate(found) if left <= found[j].start < right]
        if len(peers) == 1:
            marked.add(k)
            continue
        for cue in _OPTIONAL.finditer(text, left, right):
            before = [j for j in peers if found[j].end <= cue.start()]
            after = [j for j in peers if found[j].start >= cue.end()]
            if not before:
                marked.update(peers)
            elif (
                re.fullmatch(r"[\s(\[\u2013\u2014-]{0,3}", text[found[before[-1]].end : cue.start()])
                or not after
            ):
                marked.add(before[-1])
            elif re.fullmatch(r"\w{0,3}[\s:]{0,3}[^\W\d]{0,6}\s*", text[cue.end() : found[after[0]].start]):
                marked.add(after[0])
            else:
                marked.add(before[-1])
    return [
        m
        if m.optional == (k in marked or any(s <= m.start < e for s, e in sections))
        else replace(m, optional=not m.optional)
        for k, m in enumerate(found)
    ]


def _same_unit(unit: str, other: str | None) -> bool:
    if other is None:
        return True
    return bool(_WEEKLY.match(unit)) == bool(_WEEKLY.match(other))


def _per_period_sections(text: str) -> list[tuple[int, int, str, tuple[int, str] | None]]:
    """Lines under a heading such as "Per month:", "Pro Monat:" or "What we'd need, each week for 4
    weeks:" up to the next blank line: its unit, and how many of them when the heading says so."""
    out: list[tuple[int, int, str, tuple[int, str] | None]] = []
    heading_rx = (
        r"^[^\S\n]*(?:[^\W\d][^\n:]{0,40}\s)?(?:per|pro|par|al|por|each|every|ogni|cada)\s+"
        rf"{_PERIOD_UNIT}(?:,?\s+(?:for|over|pendant|während|für|durante|per|sur|über|voor)\s+{_COUNT}\s+"
        rf"{_MONTHS_OR_WEEKS})?\s*:\s*$"
    )
    for heading in re.finditer(heading_rx, text, re.IGNORECASE | re.MULTILINE):
        stop = text.find("\n\n", heading.end() + 1)
        said = (_count(heading.group("count")), heading.group("unit2")) if heading.group("count") else None
        out.append((heading.end(), stop if stop >= 0 else len(text), heading.group("unit"), said))
    return out


def _optional_sections(text: str) -> list[tuple[int, int]]:
    """Lines under a heading such as "Nice-to-have (no pressure):" up to the next blank line."""
    out: list[tuple[int, int]] = []
    for heading in re.finditer(r"^[^\n]{0,20}(?:nice[- ]to[- ]have|optional|optionnel|opcional|facoltativ)"
                               r"[^\n]{0,60}:\s*$",
                               text, re.IGNORECASE | re.MULTILINE):  # fmt: skip
        stop = text.find("\n\n", heading.end())
        out.append((heading.end(), stop if stop >= 0 else len(text)))
    return out


def deliverables(mentions: list[Mention]) -> list[Deliverable]:
    """One line per platform: the largest count asked (a mail restates its list), optional only when
    every mention of it is."""
    required: dict[str, int] = {}
    optional: dict[str, int] = {}
    order: list[str] = []
    for mention in mentions:
        if mention.platform not in order:
            order.append(mention.platform)
        bucket = optional if mention.optional else required
        bucket[mention.platform] = max(bucket.get(mention.platform, 0), mention.count)
    return [
        Deliverable(p, required[p], False) if p in required else Deliverable(p, optional[p], True)
        for p in order
    ]
