"""Who an offer is between: the phrases and names brands and talents are read from, and the talent.

The brand is chosen in ``brands.py`` from the names this module's patterns read: the phrases agencies
use for their client ("on behalf of our client X", "im Auftrag von X", "pour le compte de notre client
X"), how a brand introduces itself ("we're X", "X would like to…", the signature), and how well a name
matches the sender's domain (a group's domain by its core name; the domain in words, spelled as the
mail spells its parts: "zentrasleep" with "our Zentra pillow" → "Zentra Sleep").

The talent is the person the offer is about; a greeting's name only when the mail speaks to the creator
directly.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from talentq.domain.addresses import is_free_mail, registrable_domain

_UPPER: Final = r"A-ZÀ-ÖØ-Þ"
# A name token: capitalised ("Röstwerk", "L'Atelier", "O'Neil") or an ampersand joining two.
_TOKEN: Final = rf"(?:[{_UPPER}][\w'\u2019-]*(?:(?<=Co)\.)?|[a-zà-ÿ]+[{_UPPER}][\w'\u2019-]*)"
# Two-word joins first ("Biscuiterie de la Baie", "Huis van der Berg").
_JOIN: Final = (
    r"(?:de la|de las|de los|van der|von der|van de|"
    r"de|des|du|del|della|di|dos|da|do|la|le|van|von|der|y|et|and|&|e|of|dei)"
)
NAME: Final = (
    rf"(?P<name>(?:L['\u2019]|l['\u2019])?{_TOKEN}"
    rf"(?:[ \u00a0]+(?:{_JOIN}[ \u00a0]+)?(?:{_TOKEN}|&[ \u00a0]+{_TOKEN})){{0,4}})"
)
#: Words that open the name of the one an agency writes for ("on behalf of", "im Auftrag von", "au nom de").
_FOR_CLIENT: Final = (
    r"on behalf of|in the name of|im (?:auftrag|namen)(?: (?:von|der|des))?|au nom de|"
    r"pour le compte de|de la part de|en nombre de|por cuenta de|de parte de|a nome di|in nome di|"
    r"per conto (?:di|del|della|dello)|namens|em nome de|in opdracht van"
)
_OUR_CLIENT: Final = (
    r"(?:our|notre|nos|nuestr[oa]|nostr[oa]|unsere[rns]?|nosso|nossa|onze)\s+"
    r"(?:client|cliente|clienta|clients|kunden?|kundin|klant|customer|partner)"
)
_ARTICLE: Final = r"(?:la|le|les|el|il|lo|die|das|der|the|de)"
#: (pattern, kind): how an agency names the brand it writes for; "client" names it as its client.
_CLIENT: Final = [
    rf"(?i:\b(?:{_FOR_CLIENT})\s+(?:(?:{_OUR_CLIENT})[,:]?\s+)?(?:{_ARTICLE}\s+)?){NAME}",
    rf"(?i:\b{_OUR_CLIENT}[,:]?\s+(?:{_ARTICLE}\s+)?){NAME}",
    rf"(?i:(?:PR|media|influencer|creative|marketing|communications?) agency (?:for|of) (?:the )?){NAME}",
    rf"(?i:(?:influencer marketing|influencer activity|influencer campaigns|social-media-kampagnen|"
    rf"campagnes d['\u2019]influence|activation influence|creator programme|creator program|"
    rf"creator partnerships|creator strategy|influencer partnerships|influencer strategy|"
    rf"influencer relations|relations influenceurs|relaciones con influencers|"
    rf"relazioni con (?:gli )?influencer|"
    rf"estrategia de creadores|estrategia de influencers|stratégie (?:créateurs|influence)|"
    rf"strategia (?:creator|influencer)|"
    rf"partner ?programm\w*|affiliate program\w*|programa de afiliados|programme d['\u2019]affiliation|"
    rf"programma di affiliazione) "
    rf"(?:for|von|of|de|pour|di) (?:the |la |le |l['\u2019])?){NAME}",
    rf"(?i:(?:représentons|we represent|vertreten|representamos|rappresentiamo|die marke|the brand|la marque|"
    rf"la marca|il marchio) (?:la |le |the |die |das )?"
    rf"(?:[a-zà-ÿ-]+ (?:brand|marque|marke|marca|marchio) )?){NAME}",
    # "Trabajamos para Iberaventura", "brought in by Orrin Outdoor", "on Orrin's behalf",
    # "la propuesta del cliente, Iberaventura Trenes", "distributore ufficiale di Kettlebrook"
    rf"(?i:\b(?:we work|we're working|we are working|trabajamos|wir arbeiten|nous travaillons|lavoriamo|"
    rf"we werken|werken wij|trabalhamos) (?:para|for|für|pour|per|voor|con|with|mit|avec) "
    rf"(?:{_ARTICLE} )?){NAME}",
    rf"(?i:\b(?:brought in|hired|commissioned|engaged|beauftragt|mandatée?s?|contratad[oa]s?|incaricat[oi]) "
    rf"(?:by|von|par|por|da) (?:{_ARTICLE} )?){NAME}",
    rf"(?i:\bon ){NAME}(?i:['\u2019]s behalf)",
    rf"(?i:\b(?:the |del |du |des |der |dal |do )?(?:client|cliente|kunden?|klant)[,:] "
    rf"(?:{_ARTICLE} )?){NAME}",
    rf"(?i:\b(?:distribut(?:or|eur|ore|idor)|vertrieb\w*|distribuidora|official distributor) "
    rf"(?:[a-zà-ÿ]+ ){{0,2}}(?:of|de|di|von|für|for|du|del|della|dei|des) (?:{_ARTICLE} )?){NAME}",
    rf"(?i:\b(?:we distribute|distribuiamo|distribuimos|nous distribuons|wir vertreiben|vertreiben wir) "
    rf"(?:{_ARTICLE} )?){NAME}",
    # "régie audio qui représente la Biscuiterie Lunelle", "an agency that represents Nomu"
    rf"(?i:\b(?:represents|représente|vertritt|rappresenta|representa|vertegenwoordigt) "
    rf"(?:{_ARTICLE} )?){NAME}",
    # "Crescent is running Halo's Q3 creator flight", "we're placing Q2 audio for Quillbook": a media
    # buyer names the advertiser it buys for
    rf"(?i:\b(?:running|managing|handling|planning|booking|placing|buying) (?:the )?){NAME}(?i:['\u2019]s)\b",
    rf"(?i:\b(?:placing|buying|booking) (?:[\w-]+ ){{0,3}}(?:for|on behalf of) (?:{_ARTICLE} )?){NAME}",
    # "a new advertiser, Bloom", "un nouvel annonceur, la Biscuiterie Lemoine", "our headline sponsor,
    # Vanderveen Paints": a network, an ad sales house or a show's producer names who pays for the ad
    rf"(?i:\b(?:advertiser|annonceur|anunciante|inserzionista|werbekunde|werbepartner|adverteerder|"
    rf"headline sponsor|title sponsor|main sponsor|hauptsponsor|sponsor principal|"
    rf"sponsor principale|patrocinador principal)[,:]? (?:{_ARTICLE} )?){NAME}",
    # "seguiamo la comunicazione digitale di Caffè Duomo", "we handle the social media for Orrin"
    rf"(?i:\b(?:we handle|we manage|we run|seguiamo|curiamo|gestiamo|betreuen|wir betreuen|nous gérons|"
    rf"gestionamos|llevamos|cuidamos) (?:{_ARTICLE} |les |los |i |gli )?(?:comunicazione|communication|"
    rf"comunicación|kommunikation|social media|socials?|social|pr|relations presse|ufficio stampa|"
    rf"influencer marketing)(?: digitale?| digital| online)? (?:di|of|for|de|du|von|für|del|della|dello) "
    rf"(?:{_ARTICLE} )?){NAME}",
]
CLIENT_PATTERNS: Final = [(re.compile(p), "client" if k < 2 else "works_for") for k, p in enumerate(_CLIENT)]
#: (pattern, kind): how a brand introduces itself.
_INTRO: Final = [
    (
        rf"(?i:\b(?:we(?:'re| are)|wir sind|wij zijn|somos|siamo|on est|nous sommes|sono|soy)) "
        rf"(?:(?i:il|la|le|the|die|das|der|l['\u2019]) )?{NAME}",
        "we_are",
    ),
    (
        rf"(?:^|\n|[.!] )(?:(?i:la|il|le|the|die|das|der|el|"
        rf"l['\u2019]) )?{NAME}(?: \([^)\n]{{1,60}}\))?,? (?i:is|ist|est|es|è|"
        rf"would|wants|möchte|souhaite|desidera|vorrebbe|quiere|wil|plant|launches|lance|lancerà|sta|"
        rf"souhaiterait|"
        rf"bringt|ouvre|will|ha|has)\b",
        "acts",
    ),
    (
        # "Sou o Rui, dono d'A Padaria do Porto", "founder of Kelpie Labs": a person introduces the brand
        rf"(?i:\b(?:owner|founder|co-founder|dono|dona|fundador|fundadora|fondateur|fondatrice|fondatore|"
        rf"gründer|gründerin|inhaber|inhaberin|titolare|propietari[oa]|eigenaar|oprichter) "
        rf"(?:(?:of|de|di|von|der|des|du|do|da|van)\s+(?:the\s+)?|d['\u2019]\s?))(?-i:{NAME})",
        "we_are",
    ),
    (
        rf"(?i:\bthe) {NAME} (?i:team)\b",
        "team",
    ),
    (
        rf"(?i:l['\u2019]équipe|el equipo de|il team di|das team von|the team (?:at|behind)) {NAME}",
        "team",
    ),
    (
        rf"(?i:\b(?:from|at|chez|desde|von der|vom|von|from the|bei|de la|del|do|da|de|department of|for|"
        rf"für)) {NAME}",
        "from",
    ),
]
INTRO_PATTERNS: Final = [(re.compile(p), kind) for p, kind in _INTRO]
LEGAL: Final = re.compile(
    r"[\s,]+(?:GmbH(?: & Co\.? KG)?|AG|e\.K\.|KG|Inc\.?|Ltd\.?|LLC|LLP|Limited|S\.?A\.?S?\.?|SAS|SARL|SRL|"
    r"S\.r\.l\.?|"
    r"S\.p\.A\.?|S\.L\.?|S\.A\.|B\.V\.?|BV|Co\.,? Ltd\.?|Pty Ltd|plc|Corp\.?|Genossenschaft|SE|NV|Oy|AB)$",
    re.IGNORECASE,
)
SHARED_MAILBOX: Final = re.compile(
    r"^(?:hello|hi|hey|hola|ciao|info|team|marketing|partner\w*|collab\w*|kooperation\w*|studio|contact|"
    r"affiliates?|campa\w+|press|pr|social|brand|creators?|influence\w*|atelier|office|mail)$"
)
#: Content words: never a brand's or a person's name, nor the end of one.
_CONTENT_WORDS: Final = frozenset(
    [
        "instagram",
        "reel",
        "reels",
        "story",
        "stories",
        "storys",
        "tiktok",
        "tiktoks",
        "youtube",
        "short",
        "shorts",
        "twitch",
        "pinterest",
        "linkedin",
        "threads",
        "podcast",
        "post",
        "posts",
        "video",
        "videos",
    ]
)
NOT_NAMES: Final = _CONTENT_WORDS | frozenset(
    [
        "hi",
        "hiya",
        # "Soy Alba, de Media Norte": a first-person verb a sentence opens with, not a name
        "soy",
        "somos",
        "sono",
        "siamo",
        "sou",
        "info",
        "hello",
        # pronouns and roles a capital letter opens in German ("Ihrer Talentin Lena", "mit Ihnen")
        "ihnen",
        "ihrer",
        "ihre",
        "ihr",
        "sie",
        "talentin",
        "talent",
        "dear",
        "hey",
        "hallo",
        "hola",
        "ciao",
        "bonjour",
        "buongiorno",
        "hoi",
        "moin",
        "gentile",
        "liebe",
        "best",
        "kind",
        "many",
        "warm",
        "regards",
        "thanks",
        "thank",
        "cheers",
        "team",
        "influencer",
        "marketing",
        "partnerships",
        "partnership",
        "manager",
        "head",
        "director",
        "senior",
        "lead",
        "brand",
        "creator",
        "account",
        "communication",
        "growth",
        "new",
        "year",
        "spring",
        "summer",
        "autumn",
        "winter",
        "fall",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "q1",
        "q2",
        "q3",
        "q4",
        "fee",
        "fees",
        "rate",
        "rates",
        "budget",
        "deliverables",
        "total",
        "usage",
        "we",
        "our",
        "the",
        "and",
        "for",
        "with",
        "pin",
        "pins",
        "blog",
        "x",
        "re",
        "aw",
        "fwd",
        "proposal",
        # what a subject calls the mail: "Angebot Zeltvideo Feldberg", "Invitation: Maple & Moss"
        "offer",
        "angebot",
        "offerta",
        "oferta",
        "offre",
        "invitation",
        "einladung",
        "invito",
        "invitación",
        "convite",
        "uitnodiging",
        "voorstel",
        "samenwerking",
        "zusammenarbeit",
        "proposta",
        "propuesta",
        "proposition",
        "parceria",
        "marke",
        "marque",
        "marca",
        "marchio",
        "kooperation",
        "collaboration",
        "collaborazione",
        "colaboración",
        "partenariat",
        "anfrage",
        "campaign",
        "campagne",
        "campaña",
        "campagna",
        "launch",
        "sponsoring",
        "sponsorship",
        "grüße",
        "saluti",
        "saludos",
        "cordialement",
        "bien",
        "un",
        "una",
        "le",
        "la",
        "il",
        "el",
        "der",
        "die",
        "das",
        "ambassador",
        "programme",
        "program",
        "influence",
        "sales",
        "social",
        "media",
        "agency",
        "press",
        "pr",
        "creators",
        "content",
        "ugc",
        "januar",
        "februar",
        "märz",
        "mai",
        "juni",
        "juli",
        "oktober",
        "dezember",
        "janvier",
        "février",
        "mars",
        "avril",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
        "gennaio",
        "febbraio",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "settembre",
        "ottobre",
        "dicembre",
        "ende",
        "anfang",
        "mitte",
        "im",
        "am",
        "unser",
        "unsere",
        "unseren",
        "two",
        "three",
        "four",
        "one",
        "letztes",
        "letzte",
        "dieses",
        "nächste",
        "next",
        "last",
        "this",
        "could",
        "would",
        "can",
        "will",
        "please",
        "if",
        "when",
        "so",
    ]
)
_GREETING: Final = re.compile(
    r"^\s*[¡¿]?(?:hi|hiya|hello|hey|dear|hallo|liebe[rs]?|sehr geehrte[rs]?|bonjour|salut|hola|buenas|ciao|"
    r"buongiorno|"
    r"gentile|caro|cara|hoi|moin|oi|olá|allô|buenas tardes)[ ,]+(?:(?:mr|ms|mrs|frau|herr|madame|monsieur|"
    r"sig\.?)\.? )?"
    rf"(?P<name>(?-i:[{_UPPER}][\w'\u2019-]+(?: [{_UPPER}][\w'\u2019-]+)?))",
    re.IGNORECASE | re.MULTILINE,
)
_PERSON: Final = re.compile(
    rf"(?<![\w'\u2019])(?P<name>(?:Dr\. )?[{_UPPER}][a-zà-ÿ]+(?:['\u2019](?!s\b)[a-zà-ÿ]+)?"
    rf"(?:-[{_UPPER}][a-zà-ÿ]+)?"
    rf"(?: (?:de |De |van |Van |Le |da |del |di |De )?[{_UPPER}][a-zà-ÿ]+(?:['\u2019](?!s\b)[a-zà-ÿ]+)?"
    rf"(?:-[{_UPPER}][a-zà-ÿ]+)?){{1,2}})(?![\w])"
)
_FIRST: Final = re.compile(rf"(?<![\w'\u2019])(?P<name>[{_UPPER}][a-zà-ÿ]+)(?![\w])")
_TALENT_CONTEXT: Final = re.compile(
    r"(?:\b(?:with|for|mit|avec|con|met|com|para|pour|für|per|a|à|an|love|want|book|sponsor|have|invite|"
    r"bring|"
    r"coinvolgere|contar con|proporre a|proposer à|gewinnen|x|\u00d7|que|che|dass|that|wenn|if|"
    r"klientin|klienten|client|cliente|talent|creator|créatrice|creatrice)\s+$|[^\S\n][\u2013\u2014-]\s*$)",
    re.IGNORECASE,
)


#: Characters of a mail read for names: a brand and its creator are named early.
NAMES_LIMIT: Final = 6000


@dataclass(frozen=True)
class Party:
    name: str
    why: str


def squash(text: str) -> str:
    """Letters and digits only, umlauts spelled out as a German domain does ("Röstwerk" → "roestwerk")."""
    return loose(text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss"))


def loose(text: str) -> str:
    """Letters and digits only, accents dropped ("Röstwerk" → "rostwerk")."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in folded if not unicodedata.combining(c)))


def sender_domain(sender: str) -> str:
    """The sender's organisation label: "k.seidl@bergquelle-kosmetik.de" → "bergquelle-kosmetik",
    "news@mail.hellofresh.com" → "hellofresh"; "" for a free-mail sender."""
    match = re.search(r"@([\w.-]+)", sender)
    if not match or is_free_mail(match.group(1)):
        return ""
    return registrable_domain(match.group(1)).split(".")[0]


def display_name(sender: str) -> str:
    return sender.split("<", 1)[0].strip().strip('"') if "<" in sender else ""


def clean_brand(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip(" ,.;:\u2013-")
    # "'Flip My Flat'": a closing quote read into a name's last word is no part of it
    name = re.sub(r"(?<=\w)['\u2019]$", "", name)
    if name.endswith(" Co") and not name.endswith("& Co"):
        name += "."
    while (stripped := LEGAL.sub("", name)) != name:
        name = stripped.strip(" ,")
    return name


def writes_for_itself(brand: str, sender: str) -> bool:
    """True when ``sender``'s domain is ``brand``'s own ("Radwerk" and radwerk.berlin, "Notion"
    and makenotion.com), not an agency's that writes for it, nor free mail."""
    return domain_score(brand, sender_domain(sender)) >= 3.0


@lru_cache(maxsize=4096)
def domain_score(name: str, domain: str) -> float:
    if not domain:
        return 0.0
    d = squash(domain)
    scores = []
    for s in {squash(name), loose(name)}:
        if len(s) < 3:
            continue
        if s == d:
            scores.append(4.0)
        elif s in d or d in s:
            scores.append(3.0 if min(len(s), len(d)) >= 4 else 1.0)
        elif (
            min(len(s), len(d)) >= 6
            and abs(len(s) - len(d)) <= 3
            and difflib.SequenceMatcher(None, s, d).ratio() >= 0.88
        ):
            scores.append(3.5)  # "Mar & Monte" for marymonte
        else:
            common = 0
            for a, b in zip(s, d, strict=False):
                if a != b:
                    break
                common += 1
            scores.append(2.0 if common >= 5 else 1.0 if common >= 4 else 0.0)
    return max(scores, default=0.0)


_TRAILING: Final = _CONTENT_WORDS | frozenset(
    [
        "campaign",
        "campagne",
        "campaña",
        "campagna",
        "kampagne",
        "launch",
        "collab",
        "collaboration",
        "proposal",
        "proposta",
        "propuesta",
        "proposition",
        "sponsoring",
        "sponsorship",
        "partnership",
        "kooperation",
        "anfrage",
        "brief",
        "creator",
        "creators",
        "program",
        "programme",
        "programm",
        "team",
        "equipo",
        "équipe",
    ]
)


_JOIN_WORDS: Final = frozenset(
    [
        "de",
        "des",
        "du",
        "del",
        "la",
        "le",
        "van",
        "von",
        "y",
        "et",
        "and",
        "&",
        "e",
        "of",
        "der",
        "di",
        "da",
        "do",
    ]
)


def trim_name(name: str) -> str:
    """Cut a captured name at the first word that is not part of a name ("Hautnah Berlin-Neukölln")."""
    words = name.split(" ")
    while words and (words[-1].lower() in _TRAILING or words[-1].lower() in _JOIN_WORDS):
        words.pop()
    return " ".join(words)


#: How a group's domain marks it ("brunetti-group", "gruposolana").
GROUP_WORDS: Final = frozenset(["group", "gruppe", "groupe", "grupo", "gruppo", "holding", "holdings"])


def parent_core(domain: str) -> str | None:
    """The name in a parent group's domain ("brunetti-group" → "brunetti"), None when it names no group."""
    parts = domain.split("-")
    if len(parts) > 1 and parts[-1] in GROUP_WORDS:
        return "-".join(parts[:-1])
    if len(parts) > 1 and parts[0] in GROUP_WORDS:
        return "-".join(parts[1:])
    for word in GROUP_WORDS:
        if len(domain) - len(word) >= 4 and (domain.endswith(word) or domain.startswith(word)):
            return domain[: -len(word)] if domain.endswith(word) else domain[len(word) :]
    return None


#: Common words a brand's domain adds to its name ("pawsomepetco", "zentrasleep"), read apart from it.
DOMAIN_WORDS: Final = frozenset(
    """co company pet pets sleep outdoor outdoors labs lab studio studios foods food beauty tea coffee works
    home living kitchen cosmetics kosmetik skincare skin care fitness sports sport wear apparel audio games
    gaming tech health nutrition drinks brewing brewery bikes bike travel goods supply club collective
    naturals organics wellness fashion jewelry shoes sneakers style design cafe bakery water energy mobile
    hair paper cycles books plants snacks kids baby garden wine spirits eyewear optics bags""".split()  # noqa: SIM905
)
#: Words a domain puts before the brand's name ("drinksprintly", "getzentra").
_DOMAIN_LEADS: Final = ("get", "try", "drink", "shop", "hello", "join", "use", "my", "the", "go", "we")


def domain_form(domain: str, text: str) -> str:
    """The brand as the sender's domain spells it, in words: the mail's own spelling for a part it writes
    ("Zentra" + "sleep" → "Zentra Sleep"), common words read apart ("pawsomepetco" → "Pawsome Pet Co")."""
    spelled: dict[str, str] = {}
    for word in re.findall(rf"(?<![\w@.])[{_UPPER}][\w'\u2019]*", text):
        key = squash(word)
        if len(key) >= 3 and word.lower() not in NOT_NAMES:
            spelled.setdefault(key, word)
    out: list[str] = []
    for token in domain.split("-"):
        out.extend(_segment(token, spelled))
    return " ".join(out)


def _segment(token: str, spelled: dict[str, str]) -> list[str]:
    if token in spelled:
        return [spelled[token]]
    for size in range(len(token) - 2, 2, -1):
        head, rest = token[:size], token[size:]
        if head in spelled:
            return [spelled[head], *_words_of(rest)]
        if rest in spelled and token[: len(token) - len(rest)] in _DOMAIN_LEADS:
            return [spelled[rest]]
    return _words_of(token)


def _words_of(token: str) -> list[str]:
    """Common words read off the end of a domain part: "pawsomepetco" → Pawsome, Pet, Co."""
    tail: list[str] = []
    while True:
        word = max(
            (w for w in DOMAIN_WORDS if token.endswith(w) and len(token) - len(w) >= 3), key=len, default=""
        )
        if not word:
            break
        tail.insert(0, word)
        token = token[: -len(word)]
    return [w.capitalize() for w in (token, *tail)]


def agency_name(text: str, sender: str, domain: str) -> str | None:
    display = display_name(sender)
    for piece in re.split(r"\s*[|\u2013\u2014-]\s*", display):
        if domain and domain_score(piece, domain) >= 2:
            return piece.strip()
    # The name that fits the domain best, the fullest of those ("Northpeak Media", not "Media").
    fitting = [
        (domain_score(name, domain), len(name), name)
        for name in (clean_brand(m.group("name")) for m in re.finditer(NAME, text))
        if domain and domain_score(name, domain) >= 3
    ]
    if fitting:
        return max(fitting)[2]
    return domain.replace("-", " ").title() if domain else None


_SUBJECT_SPLIT: Final = re.compile(
    r"\s+(?:x|\u00d7|\u2013|\u2014|-|\||·|/)\s+|[:()\[\]?!,]|\s(?:for|für|pour|per|para|con|with|avec|mit|"
    r"met|von|de)\s",
    re.IGNORECASE,
)
_DETERMINER: Final = re.compile(
    r"(?:\b(?:unser\w*|our|the|den|dem|der|die|das|des|la|le|les|il|el|los|las|lo|un|une|una|ein\w*|notre|"
    r"nos|nuestr[oa]|nostr[oa]|new|neue\w*|nouve\w+|nuev[oa]|nuov[oa]|im|am|zum|zur|vom|beim|della|au|"
    r"aux)\s+|"
    r"[\"„“«\u2039'\u201a])$",
    re.IGNORECASE,
)
#: Common given names in the mail's languages: a person's name earns a little over a product's
#: ("Jonas Becker" over "Espresso Tonic"); names not listed still count, only with less weight.
GIVEN_NAMES: Final = frozenset(
    """aaron adam adrian adriana agathe aidan aitana alba albert alberto alejandro alessandra alessandro alex
    alexander alexandra alice alicia alina amelia amelie amélie ana andrea andreas andrés andrew angela anna
    anne antoine antonio arjun arthur ava axel beatriz ben benjamin bianca carla carlos carlotta carmen
    caroline catalina chiara chloe chloé chris christian claire clara claudia clément colin daan daniel
    daniela david diego dylan elena eli elias elin elisa elisabeth ella ellie elodie élodie emilia emilie
    émilie emily emma enzo eric erik eva fabian federico felix filippo finn florian francesca francesco
    franziska freya gabriel gabrielle giada giorgia giovanni giulia grace greta hannah harry hugo inès ines
    irene isabel isabella isla ivan jack jacob jake jakob james jan jana javier jess jessica joel johanna
    john jonas jordan jorge josé josef joshua julia julian julie julien juliana juliette kai karim kate
    katharina kevin kim kira laila lara laura lea léa lena leo leon leonie liam lily lina linus lisa lorenzo
    lotte louis louise luca lucas lucía lucia luisa luis lukas maja manon marc marco marcus margaux maria
    marie marina mario marius marlene marta martin martina mateo matteo matthias max maya mehmet mia
    michael michele mila milan mo nadia naomi nathan nerea nia niklas nicolas nico noah noé noemi nora oliver
    olivia olly oscar pablo paola patrick paul paula pauline pedro peter philipp pia pierre priya rafael
    raphael
    rebecca riccardo robin rohan rosa ruby ryan sam samuel sandra sara sarah sebastian sergio simon simone
    sofia sophie stefan stefano svenja tasha theo theresa thomas tim timo tobias tom tommaso valentina
    valentin victor vincent yanis yasmin zed zoe zoé
    abigail ada adele adriano adèle agnese agnès agustín aida aino aitor alain alan albane alberte
    aleksander alessia alexis alfie alfonso alfred alfredo aline almudena alvaro amadeo amaia amanda
    ambre amparo amy anaïs andreia andré ane angelo angélica anja annabel annalena annelies annemarie
    anouk anselm anton antoni antonia ariadna ariane arnau arnaud arne aron astrid audrey aurélie ayla
    barbara bart bastian bastien beatrice belén benedikt benoît bernard bernardo bernd birgit birte
    björn blanca bram brenda bruna bruno caitlin camila camille candela carina carl carlo carola
    caterina cathy cecilia celia charles charlie charlotte christina christine christophe cristian
    cristina cyril cécile cédric césar dafne damien dani daria dario darío davide debora delphine denis
    diana didier dirk dolores domenico dominik dominique dora dries edoardo eduardo eleonora eliane
    elif elise eliza elke ellen eloise elsa elvira emanuele emile emmanuel enrico enrique erika ernesto
    esmée esteban estelle esther ethan eugenia evelyn fabien fabio fabrizio fanny federica felipe femke
    fernanda fernando filipa fiona flavia florence francisco franck frank frida friedrich félix
    gabriela gabriele gaspard gaëlle georg george georgia gerard gianluca gianni gilles gina giorgio
    giulio giuseppe guillaume guillermo gustav gwen gérard hanna hans heidi helena henri henrik henry
    hélène ignacio ilaria ilse ingrid inma inés inês iris isaac isabelle ivana iván jacopo jaime jannik
    jasmin jasper jean jeanne jennifer jens jesper jesús jill jim joana joanna joao joaquín jochen
    johan jonathan joost jordi josefine joseph josh josie joão joël juan judith jules julián justine
    jérôme karin karl karla karolina kathrin katie klaus kristin lars laure lauren laurent leah
    leonardo lieke lilly linda livia lola lorena luc lucie ludovica luise léo léon maarten madeleine
    magda magdalena maike malin manuel manuela marcel marcela marcos margot mariana marion marit martín
    mathilde matilde matthew mattia maud maxime maximilian mehdi melanie michaela michel miguel miriam
    moritz mélanie nadine natalia natalie nathalie neil nicola nicole niels nienke nils nina noémie
    nuria núria olga olivier omar pascal patricia paulina petra philippe pieter pilar quentin rachel
    raffaele ramón raphaël raquel renata rené ricardo richard rita robert roberta roberto rocío rodrigo
    romain roman romy ronja rosalie rubén ruth sabine sabrina sander sanne santiago sasha selma silvia
    sofie sofía solène sophia stefania stephanie stéphane susanne svea sven sylvie sébastien tamara
    tanja teresa thea théo tomás toni valeria valérie vanessa vera verena veronica victoria virginia
    vittoria víctor wim xavier yann yolanda yvonne álvaro óscar
    """.split()  # noqa: SIM905 - a word list reads better as prose
)
_SECOND_PERSON: Final = re.compile(
    r"\b(?:you|your|dich|dir|dein\w*|vous|votre|vos|te|ti|tu|tus|tuo|tua|tuoi|contigo|regalarte|proporti|je|"
    r"jouw)\b",
    re.IGNORECASE,
)
_AFTER_NAME: Final = re.compile(
    r"^(?:['\u2019]s\b|\s+(?:gerne|would|is|ist|est|è|es|to|zu|for|für|per|para|pour|fasse|hiciera|on|dafür|"
    r"has|hat|a|ha|keeps|gets|can|could|do|does|fait|il|da|de|auf|on|in|im|lo|la|le)\b)",
    re.IGNORECASE,
)


def find_talent(subject: str, current: str, quoted: str, sender: str, brand: str | None) -> Party | None:
    """The creator the offer is for: the person the subject names or the body asks for (never the
    sender, the manager greeted, or the brand); the greeted name when the mail speaks to the creator."""
    current, quoted = current[:NAMES_LIMIT], quoted[:NAMES_LIMIT]
    lines = current.splitlines()
    body = "\n".join(lines[:-3]) if len(lines) > 8 else current
    greetings = list(_GREETING.finditer(current))
    greeted = {m.group("name").split()[0] for m in greetings}
    excluded = {w for w in re.split(r"[\s|\u2013\u2014-]+", display_name(sender)) if w}
    local = re.sub(r"@.*", "", re.sub(r".*<", "", sender)).lower()
    brand_words = {w.lower() for w in re.split(r"\W+", brand or "") if len(w) > 1}
    whole = f"{subject}\n{current}\n{quoted}"

    domain = sender_domain(sender)

    def allowed(name: str) -> bool:
        if domain and domain_score(name, domain) >= 3:
            return False  # the agency or brand writing
        words = [w for w in name.replace("Dr. ", "").split() if w[:1].isupper()]
        if not words or any(w.lower() in NOT_NAMES or w.lower() in brand_words for w in words):
            return False
        if any(w in excluded or (len(w) > 2 and loose(w) in loose(local)) for w in words):
            return False
        return not any(len(w) > 14 or re.search(r"[a-zà-ÿ][A-ZÀ-Þ]|-[A-ZÀ-Þ]", w) for w in words)

    scores: dict[str, float] = {}

    def add(name: str, score: float) -> None:
        words = name.split()
        while len(words) > 2 and words[0].lower() in NOT_NAMES:
            words.pop(0)  # "Could Arjun Mehta"
        name = " ".join(words)
        if allowed(name):
            known = name.replace("Dr. ", "").split()[0].lower() in GIVEN_NAMES
            scores[name] = scores.get(name, 0.0) + score + (1.5 if known and name not in scores else 0.0)

    seen: dict[str, bool] = {}

    def determined(name: str) -> bool:
        """ "unseren Cold Brew", "The Side Hustle Hour": a thing, not a person."""
        if name not in seen:
            seen[name] = _determined(name)
        return seen[name]

    def _determined(name: str) -> bool:
        return any(
            _DETERMINER.search(text[max(0, m.start() - 12) : m.start()])
            for text in (subject, body) for m in re.finditer(re.escape(name), text)
        )  # fmt: skip

    for match in _persons(body):
        name = match.group("name")
        if name.split()[0] in greeted and _greeted_at(current, match):
            continue
        context = _TALENT_CONTEXT.search(body[max(0, match.start() - 20) : match.start()])
        after = _AFTER_NAME.match(body[match.end() : match.end() + 12])
        if not determined(name):
            add(name, 1.0 + (1.5 if context else 0.0) + (0.5 if after else 0.0))
    singles: set[str] = set()
    for match in _FIRST.finditer(body):
        name = match.group("name")
        if name in greeted or any(name == n.split()[0] for n in scores):
            continue
        context = _TALENT_CONTEXT.search(body[max(0, match.start() - 20) : match.start()])
        after = _AFTER_NAME.match(body[match.end() : match.end() + 12])
        sentence_start = re.search(r"(?:^|[.!?:]\s|\n)\s*$", body[max(0, match.start() - 3) : match.start()])
        if ((context and not sentence_start) or (after and context)) and not determined(name):
            singles.add(name)
    # The subject names the creator as a part of its own: "Bergquelle x Lena Hoffmann", "Anfrage Mehmet".
    for part in _SUBJECT_SPLIT.split(subject):
        words = [w for w in part.split() if w]
        while words and words[0].lower() in NOT_NAMES | _TRAILING:
            words.pop(0)
        name = " ".join(words)
        if not name or determined(name):
            continue
        if re.fullmatch(_PERSON.pattern, name):
            add(name, 3.0 if name in body else 1.0)
        elif re.fullmatch(_FIRST.pattern, name) and (
            name in singles or name.lower() in GIVEN_NAMES or re.search(rf"\b{name}\b", body)
        ):
            add(name, 2.0)
            singles.discard(name)
    for name in singles:
        add(name, 1.5)
    # A full name gains from the creator being called by first name elsewhere ("Luisa", "Sam's").
    for name in list(scores):
        first = name.replace("Dr. ", "").split()[0]
        if " " in name:
            scores[name] += 0.3 * min(3, len(re.findall(rf"\b{re.escape(first)}\b", whole)) - 1)
    if scores:
        best = max(scores, key=lambda n: (scores[n], len(n)))
        if scores[best] >= 1.5 or not greetings:
            return Party(
                _person_form(_expand(best, whole), whole),
                "named in the " + ("subject" if best in subject else "mail"),
            )
    if greetings and _SECOND_PERSON.search(current):
        name = greetings[0].group("name")
        if not allowed(name):
            name = name.split()[0]
        if allowed(name):
            return Party(_person_form(name, whole), "the mail speaks to the creator")
    if scores:
        best = max(scores, key=lambda n: (scores[n], len(n)))
        return Party(_person_form(_expand(best, whole), whole), "named in the mail")
    return None


def _person_form(name: str, text: str) -> str:
    """A name as the person is called, not as a sentence bends it: "Priya-san" → "Priya", German
    genitive "Paula Neumanns" → "Paula Neumann" when the mail also writes that."""
    name = re.sub(r"-(?:san|sama|kun|chan)$", "", name)
    if (
        name.endswith("s")
        and len(name) > 3
        and re.search(rf"(?<!\w){re.escape(name[:-1])}(?![\w'\u2019])", text)
    ):
        return name[:-1]
    return name


def _persons(text: str) -> Iterator[re.Match[str]]:
    """Full names in ``text``; a match opened by a word that is no name ("Ihrer Talentin Lena Vogt")
    is read again from its next word, so that the name after it is found whole."""
    pos = 0
    while match := _PERSON.search(text, pos):
        first = match.group("name").split()[0]
        if first.lower() in NOT_NAMES:
            pos = match.start() + len(first) + 1
            continue
        pos = match.end()
        if re.match(r"[^\S\n]*:[^\S\n]*(?:\n|$)", text[pos : pos + 4]):
            continue  # "Geplanter Umfang:" heads a list; it names no one
        yield match


def _greeted_at(text: str, match: re.Match[str]) -> bool:
    line_start = text.rfind("\n", 0, match.start()) + 1
    return _GREETING.match(text[line_start : match.end()]) is not None


def _expand(first: str, text: str) -> str:
    """A first name to the full name the thread gives it ("Nia" → "Nia Campbell")."""
    if " " in first:
        return first
    for match in re.finditer(
        rf"(?<![\w'\u2019]){re.escape(first)} (?P<last>[{_UPPER}][a-zà-ÿ]+(?:-[{_UPPER}][a-zà-ÿ]+)?)\b", text
    ):
        if match.group("last").lower() not in NOT_NAMES and not re.search(
            r"<|wrote|schrieb|écrit|escribió|scritto", text[match.end() : match.end() + 40]
        ):
            return match.group(0)
    return first
