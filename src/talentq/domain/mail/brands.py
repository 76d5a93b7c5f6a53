"""Which brand an offer is for: names read from the mail, ranked by a small trained model.

The brand is the advertiser, never the media agency writing for it. Hand-weighed rules fitted the
mail they were written next to (97 % there, 82 % on unseen mail), so the weighing is learned instead:

1. **Candidates** are the names the mail gives, each with the ways it gives them: named as the client
   ("on behalf of our client X", "im Auftrag von X", "pour le compte de X"), introducing itself ("we're
   X", "X would like to…", "the X team"), in the subject, the sender's display name, the signature,
   a word spelled like the sender's domain (or a free-mail sender's address: "tidewellswim@…"), the
   domain itself in words ("zentrasleep" → "Zentra Sleep"), or only a capitalised name somewhere.
   A campaign, product or show the mail says is another's ("PROJECT NIGHTSHIFT is a Corvane
   product") is no candidate; its owner is one ("owner"). Nor is a group ("Gruppo Ferretti Casa",
   "Harbor Lane Group"), which writes for the brands it owns, when the mail names anything else.
2. **Features** of each candidate: those ways, how well it matches the sender's domain (a group's
   domain by its core name), how often and how early the mail uses it, its length, whether a longer
   or shorter form is also a candidate and which the mail uses on its own more, whether the mail
   names a client at all, agency words ("PR", "Media", "Agentur"), a person's name, whether it is
   within the name of the creator the offer is for, whether the subject names it while naming
   nothing that fits the sender's domain (a distributor or network writing for a brand), whether
   it is a show sponsored or a product launched ("thing"), whether the mail quotes it (a campaign's
   name: '"Build It Back"').
3. **A conditional logit** (``brand_model.json``, one weight per feature) scores the candidates of a
   mail; the best one is the brand. ``python -m talentq.dev.train_brand_ranker`` trains it on the
   development part of the labelled corpus.

Each answer says why: the ways the mail gave the name the model weighed most.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Final

from talentq.domain.mail.parties import (
    CLIENT_PATTERNS,
    DOMAIN_WORDS,
    GIVEN_NAMES,
    GROUP_WORDS,
    INTRO_PATTERNS,
    LEGAL,
    NAME,
    NAMES_LIMIT,
    NOT_NAMES,
    SHARED_MAILBOX,
    Party,
    agency_name,
    clean_brand,
    display_name,
    domain_form,
    domain_score,
    loose,
    parent_core,
    sender_domain,
    squash,
    trim_name,
)

MODEL_FILE: Final = "brand_model.json"

#: Greeting and sign-off words a line of a signature may begin with ("LG Birte", "Best, Amy").
_SIGN_OFF: Final = frozenset(
    ["lg", "vg", "mfg", "bg", "glg", "xo", "xx", "cordialement", "saludos", "saluti"]
)
#: Words of an agency's name or domain ("Brightside PR", "kestreltalent", "Marea Comunicación"): a name
#: with one is the one writing, rarely the brand it writes for.
_AGENCY_WORDS: Final = re.compile(
    r"(?i)(?:\bpr\b|pr$|media|agency|agentur|agence|agencia|agenzia|influence|communications?|comunicaci[oó]n|"
    r"comunicazione|kommunikation|talent|bureau|büro|consulting|partners|relations|network|netzwerk|"
    # producers, distributors and ad sales houses ("régie") write for the brands they film, sell or place;
    # "RP" is French for PR
    r"\brp\b|rp$|films?\b|productions?\b|distribu|vertrieb|\br[ée]gie\b|"
    # affiliate networks write for the brands whose programmes they run
    r"affiliat|afiliad|affiliazion)"
)
#: A German compound of an offer's word ("Kooperationsanfrage Alpenkind", "Herbstkampagne"): never a name.
_OFFER_COMPOUND: Final = re.compile(
    r"(?i)\w+(?:anfrage|angebot|kooperation|kampagne|vorschlag|partnerschaft|zusammenarbeit)"
)
#: A word and the space after it: after a given name, what follows is a surname ("Alessandro Bruno").
#: Words are looked up in ``GIVEN_NAMES`` (a set) rather than matched by a regex alternation of
#: hundreds of names, which Python's re tries one by one at every position.
_WORD_THEN_SPACE: Final = re.compile(r"(?<!\w)([^\W\d_]+)\s+")
#: "Davide di Vetta Outdoor", "Ronja von Griffig", "Sam from Kelpie Labs": a given name, then whom it is from.
_PERSON_FROM: Final = re.compile(r"(?P<who>[^\W\d]+) (?:di|de|da|von|from|at|bei|chez) (?P<org>[A-ZÀ-Þ].*)")
#: A web address written in the mail: "hollowoakcandles.com", "www.vetta-outdoor.it/shop".
_WEB_ADDRESS: Final = re.compile(
    r"(?<![@\w.-])(?:www\.)?[a-z0-9][a-z0-9-]{2,}(?:\.[a-z]{2,6}){1,2}\b(?![@.]\w)", re.IGNORECASE
)
#: What a web-address-shaped word may be instead: a file ("brief.pdf"), or a platform's or a link
#: shortener's site, which names no brand.
_NOT_A_SITE: Final = re.compile(
    r"\.(?:pdf|docx?|xlsx?|pptx?|csv|txt|zip|png|jpe?g|gif|mp4|mov|key|pages)$|"
    r"^(?:www\.)?(?:instagram|tiktok|youtube|youtu|facebook|twitter|x|threads|linkedin|pinterest|twitch|"
    r"linktr|bit|lnkd|calendly|wetransfer|dropbox|google|drive|docs|zoom|teams)\.",
    re.IGNORECASE,
)
#: The "x" of "Brand x Creator" in a subject (a capital X is the platform: "posts on X").
_PAIR: Final = re.compile(r"(?<=\S) [x\u00d7] (?=\S)")
#: Where one side of such a pair ends: punctuation, a dash, the start of a reply's subject.
_PAIR_STOP: Final = re.compile(r"[:|()\[\],!?]|\s[\u2013\u2014-]\s|\s/\s")
#: An article written as part of a name, just before it ("Le Jardin de Colette", "L'Atelier").
_ARTICLE: Final = re.compile(r"(?<!\w)(?:Le|La|Les|El|Il|Lo) $|(?<!\w)L['\u2019] ?$")
#: A campaign's, a product's or a show's name where a mail writes one, in the second group of a match.
_THING: Final = r"(?:(?:A|O|The|La|Le|Il|El|Die|Der|Das) )?" + NAME.replace("(?P<name>", "(?P<thing>")
_IS_A: Final = r"(?i:is|ist|est|es|è|é|was|war|era) (?i:a|an|un|une|una|uma|ein|eine|un['\u2019]|one of)"
_THING_WORDS: Final = (
    r"campaign|product|initiative|project|programme|program|series|challenge|collection|launch|"
    r"campagne|produit|projet|série|collection|gamme|campaña|producto|iniciativa|proyecto|programa|"
    r"colección|campagna|prodotto|iniziativa|progetto|programma|collezione|campanha|produto|projeto|"
    r"coleção|kampagne|produkt|projekt|programm|aktion|kollektion|campagne|initiatief"
)
_OF: Final = r"(?i:of|by|from|de|des|du|dos|das|do|da|di|del|della|dei|von|der|van)"
#: (pattern, whose name): how a mail tells a campaign, a product or a show (``thing``) from the brand
#: behind it (``name``, when the pattern gives it). "PROJECT NIGHTSHIFT is a Corvane product", "A Rota
#: dos Sabores é uma iniciativa dos Vinhos Solar de Anta", "we'd love to sponsor The Side Hustle Hour".
_THINGS: Final = [
    re.compile(rf"{_THING},? {_IS_A} {NAME} (?i:{_THING_WORDS})\b"),
    re.compile(rf"{_THING},? {_IS_A} (?i:{_THING_WORDS}) {_OF} (?:(?i:the|la|le|el|il|l['\u2019]) ?)?{NAME}"),
    re.compile(
        rf"(?i:\b(?:sponsor|sponsoring|sponsorship of|ad reads? (?:on|in|for)|host-read ads? (?:on|in|for)|"
        rf"we(?:'re| are) launching|we launch|lanzamos|lançamos|lanciamo|nous lançons|wir launchen|"
        rf"launch of|lancement (?:de|du|des)|lanzamiento de|lancio (?:di|del|della)|lançamento d[aoe]) "
        rf"(?:(?:the|la|le|el|il|die|das|der|a|o) |l['\u2019])?){_THING}"
    ),
]
#: How a name's "&" is spelled in a domain: "and", "und", "et", "y", "e", "n" ("Salt n Pepper").
_AMPERSAND_WORDS: Final = ("and", "und", "et", "y", "e", "n")
#: Quotes around a name, single ones too ("'Flip My Flat'"; see ``_quoted``).
_OPEN_QUOTES: Final = frozenset("\"\u201c\u201e\u00ab\u2018\u201a'")
_CLOSE_QUOTES: Final = frozenset("\"\u201d\u201c\u00bb\u2019\u2018'")
#: What each way of naming a brand is called in an answer's cues.
_SOURCES: Final = {
    "client": "named as the client",
    "works_for": "named as the brand an agency works for",
    "we_are": "introduces itself",
    "acts": "speaks of itself",
    "team": "named as a team",
    "from": "the sender is from it",
    "subject": "named in the subject",
    "subject_word": "a word of the subject",
    "x_side": "paired with the creator in the subject",
    "display": "the sender's name",
    "display_person": "beside the sender's name",
    "signature": "in the signature",
    "domain_word": "spelled like the sender's domain",
    "local_word": "spelled like the sender's address",
    "site_word": "spelled like a web address the mail gives",
    "domain": "the sender's domain in words",
    "article": "named with its article",
    "owner": "named as the owner of a campaign or product",
    "thing": "a campaign, product or show of the brand's",
    "name": "a name in the mail",
}


@dataclass
class Candidate:
    """A name the mail gives, the ways it gives it (``sources``) and its features for the model."""

    name: str
    sources: dict[str, str] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)

    def score(self, weights: dict[str, float]) -> float:
        return sum(weights.get(k, 0.0) * v for k, v in self.features.items())

    def why(self, weights: dict[str, float]) -> str:
        """The ways the mail gave the name, those the model weighs most first."""
        ranked = sorted(self.sources, key=lambda s: -weights.get(f"src:{s}", 0.0))
        return "; ".join(
            f"{_SOURCES[s]}: {self.sources[s]!r}" if self.sources[s] else _SOURCES[s] for s in ranked
        )


@cache
def brand_model() -> dict[str, float]:
    """The shipped weights (package data), read once."""
    raw = json.loads(resources.files("talentq.domain.mail").joinpath(MODEL_FILE).read_text("utf-8"))
    return {str(k): float(v) for k, v in raw["weights"].items()}


@cache
def _given_names() -> frozenset[str]:
    return frozenset(g.lower() for g in GIVEN_NAMES)


def find_brand(
    subject: str,
    current: str,
    sender: str,
    *,
    creator: str | None = None,
    weights: dict[str, float] | None = None,
) -> tuple[Party | None, str | None]:
    """The advertiser, and the agency writing for it when the mail names its client. ``creator`` is the
    person the offer is for as read before the brand is known (``find_talent`` without a brand)."""
    current = current[:NAMES_LIMIT]
    found = brand_candidates(subject, current, sender, creator=creator)
    if not found:
        display = display_name(sender)
        return (Party(display, "the sender's name"), None) if display else (None, None)
    weights = brand_model() if weights is None else weights
    best = max(found, key=lambda c: (c.score(weights), -len(c.name)))
    agency = None
    if {"client", "works_for"} & set(best.sources):
        agency = agency_name(f"{subject}\n{current}", sender, sender_domain(sender))
    return Party(best.name, best.why(weights)), agency


def brand_core(name: str) -> str:
    """A brand's name as two mails are matched to one brand: legal form and the trade words brands add
    at the end aside, letters only ("Harvest Foods Ltd" and "Harvest" → "harvest"); a name that is
    only trade words keeps them ("Tea Co" → "teaco")."""
    words = [w.strip(".,") for w in clean_brand(name).lower().split()]
    if any(w not in DOMAIN_WORDS for w in words):
        while words[-1] in DOMAIN_WORDS:
            words.pop()
    return squash(" ".join(words))


def brand_candidates(
    subject: str, current: str, sender: str, *, creator: str | None = None
) -> list[Candidate]:
    """Every name the mail gives that may be the brand, with its features (see the module's doc).
    ``creator``: the person the offer seems to be for; a name within theirs is marked (``creator``)."""
    domain = sender_domain(sender)
    text = f"{subject}\n{current}"
    display = display_name(sender)
    local = re.sub(r"@.*", "", re.sub(r".*<", "", sender)).lower()
    person = display if display and not SHARED_MAILBOX.match(re.split(r"[.\-_]", local)[0]) else ""
    person_first = person.split()[0].lower() if person else ""
    given = _given_names()
    found: dict[str, Candidate] = {}

    def add(raw: str, source: str, words_read: str = "") -> str | None:
        """The candidate ``raw`` names, added or found again; None when it names nothing."""
        words = clean_brand(trim_name(raw)).split()
        signed = agency = False
        # "Sunday Ritual" from sundayritual.co: the sender's domain spells the whole name, a weekday and all
        spelled_by_domain = bool(domain) and squash(" ".join(words)) == squash(domain)
        while (
            words
            and not spelled_by_domain
            and (
                words[0].lower() in NOT_NAMES
                or words[0].lower() in _SIGN_OFF
                or _OFFER_COMPOUND.fullmatch(words[0])
            )
        ):
            signed = signed or words[0].lower() in _SIGN_OFF
            agency = agency or bool(_AGENCY_WORDS.fullmatch(words[0]))
            words.pop(0)  # "Propuesta Mar & Monte" → "Mar & Monte", "LG Birte" → "Birte"
        name = " ".join(words)
        if not words or len(name) < 2 or not name[0].isalpha():
            return None
        # "Birrificio Orso di Bergamo": the part before a place may be the whole name.
        joined = re.match(r"(.+?) (?:di|de|von|aus|from|of|in) [A-ZÀ-Þ]", name)
        if joined and joined.group(1) != name:
            add(joined.group(1), source, words_read)
        # "Sono Davide di Vetta Outdoor": a person (a given name, or the sender's) said to be from a
        # company names the company.
        came = _PERSON_FROM.fullmatch(name)
        if came and came.group("who").lower() in given | {person_first}:
            org = add(came.group("org"), source, words_read)
            if org:
                found[org].features["person_from"] = 1.0
        if source == "we_are" and name.lower() == person_first:
            source = "name"  # "Soy Pau" from Pau Ribera: the sender introduces themself, not the brand
        candidate = found.setdefault(name, Candidate(name))
        candidate.sources.setdefault(source, words_read)
        if person and (name.lower() == person.lower() or words[0].lower() == person_first):
            candidate.features["sender_person"] = 1.0
        if LEGAL.search(" " + raw.strip()):
            candidate.features["legal_form"] = 1.0
        if signed:
            candidate.features["signed_by"] = 1.0  # "LG Birte": who signs, a person
        if agency:
            candidate.features["agency_word"] = 1.0  # "Media Norte" read as "Norte": still an agency
        return name

    for rx, kind in CLIENT_PATTERNS:
        for match in rx.finditer(text):
            add(match.group("name"), kind, match.group(0).strip())
    for rx, kind in INTRO_PATTERNS:
        for match in rx.finditer(current):
            add(match.group("name"), kind, match.group(0).strip())
    owned: set[str] = set()
    for rx in _THINGS:
        for match in rx.finditer(text):
            thing = add(match.group("thing"), "thing", match.group(0).strip())
            owner = (
                add(match.group("name"), "owner", match.group(0).strip()) if "name" in rx.groupindex else None
            )
            if thing and owner and thing != owner:
                owned.add(thing)
    for part in re.split(r"\s+(?:x|\u00d7|\u2013|\u2014|-|\||·)\s+|[\[\]:]", subject):
        for match in re.finditer(NAME, part):
            add(match.group("name"), "subject")
            for token in match.group("name").split():
                add(token, "subject_word")
    # "Feldberg x Luisa", "Pablo Ferrer x Brisa", "nomu x Nina": a subject pairs the brand with its
    # creator; the words beside the "x" name one of them, capitalised or not.
    for pair in _PAIR.finditer(subject):
        left = re.split(_PAIR_STOP, subject[: pair.start()])[-1].split()
        right = re.split(_PAIR_STOP, subject[pair.end() :])[0].split()
        right = list(itertools.takewhile(lambda w: not w[0].isdigit(), right))
        for size in (1, 2, 3):
            if len(left) >= size:
                add(" ".join(left[-size:]), "x_side")
            if len(right) >= size:
                add(" ".join(right[:size]), "x_side")
    if display:
        # "Ilse from nuuk", "Jana & Ole von Velomo", "Marketing | Kelpie"
        for piece in re.split(
            r"\s*[|\u2013\u2014@]\s*|\s+-\s+|\s+(?:from|von|de|at|bei|chez|di|da)\s+", display
        ):
            cleaned = re.sub(r"(?i)\b(partnerships?|team|marketing|collabs?|hello|info)\b", "", piece)
            add(cleaned, "display_person" if person else "display", display)
    for line in current.splitlines()[-6:]:
        for piece in re.split(r"\s*[|,\u2013\u2014·]\s*", line):
            if re.fullmatch(NAME, piece.strip()):
                add(piece.strip(), "signature", line.strip())
    # A free-mail sender's address often spells the brand ("tidewellswim@outlook.com",
    # "jonas.fernbrooktea@gmail.com"): its parts stand in for a domain, as "local_word".
    spelled = {squash(domain): "domain_word"} if domain else {}
    # A web address the mail gives ("hollowoakcandles.com" in a signature) spells a name as the
    # sender's domain would, when the sender writes from another one (a studio's, a free-mail one).
    for site in _WEB_ADDRESS.finditer(current):
        if _NOT_A_SITE.search(site.group(0)):
            continue
        label = sender_domain("@" + site.group(0))
        if label and len(label) >= 4 and label != domain:
            spelled.setdefault(squash(label), "site_word")
    if not domain and "@" in sender:
        for piece in re.split(r"[._+-]", local):
            if len(piece) >= 4 and not (person and squash(piece) in {squash(w) for w in person.split()}):
                spelled.setdefault(squash(piece), "local_word")
    if spelled:
        words = re.findall(r"[\w&'\u2019.-]+", text[:5000])  # a brand names itself early
        for size in (1, 2, 3):
            for k in range(len(words) - size + 1):
                chunk = " ".join(words[k : k + size])
                # domain_score's best mark (4) is the name and the domain spelled alike: test just that.
                for key in _spellings(chunk) & spelled.keys():
                    add(chunk, spelled[key], domain or local)
    if domain and not parent_core(domain):  # a group's domain ("groupe-aqualis") never names the brand
        add(domain_form(domain, text), "domain", domain)
    for match in re.finditer(NAME, text):
        add(match.group("name"), "name")
    # "Le Jardin de Colette": a capitalised article the brand writes as part of its name, twice or more.
    everything = f"{display}\n{text}"
    for name in list(found):
        for start, _ in uses_of(name, everything):
            if article := _ARTICLE.search(everything, max(0, start - 4), start):
                if everything.count(everything[article.start() : start] + name) >= 2:
                    add(everything[article.start() : start] + name, "article")
                break
    # "PROJECT NIGHTSHIFT is a Corvane product": the mail says whose it is, so it is not the brand.
    for thing in owned:
        found.pop(thing, None)
    # "Gruppo Ferretti Casa", "Harbor Lane Group plc": a group writes for the brands it owns and is
    # never the advertiser itself (none of the 17 groups of the labelled offers was), unless it is
    # the only name the mail gives.
    groups = {name for name in found if _is_group(name)}
    # the group's own name without its group word too ("Kessler Getränke Holding", "Kessler Getränke")
    cores = {squash(" ".join(w for w in name.split() if w.lower() not in GROUP_WORDS)) for name in groups}
    groups |= {name for name in found if squash(name) in cores}
    if len(groups) < len(found):
        for name in groups:
            del found[name]
    _describe(list(found.values()), subject, text, domain)
    # "Partnership idea for Jonah", "Ondine x Chloé Martin": the creator is named where a brand would be.
    # Only a creator whose name starts with a given name: read without the brand, the talent finder
    # may take the brand itself ("Pastificio Morandi") for the creator.
    if creator and creator.split()[0].lower() in given:
        theirs = {w.lower() for w in creator.split()}
        for c in found.values():
            if {w.lower() for w in c.name.split()} <= theirs:
                c.features["creator"] = 1.0
    return list(found.values())


def _spellings(name: str) -> set[str]:
    """How a domain or a web address may spell ``name``: squashed, accents dropped, and an ampersand
    written as a word ("Ferri & Figli" → ferriefigli, "Oliva & Sal" → olivaysal, "kombu & co." →
    kombuandco)."""
    found = {squash(name), loose(name)}
    if "&" in name:
        found |= {squash(name.replace("&", word)) for word in _AMPERSAND_WORDS}
    return found


def _quoted(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` stands between quotes; an apostrophe opens one only after a space or a
    line's start ("'Flip My Flat'", not "l'Atelier")."""
    before = text[max(0, start - 3) : start].rstrip()
    after = text[end : end + 2].lstrip()[:1]
    if not before or before[-1] not in _OPEN_QUOTES or after not in _CLOSE_QUOTES:
        return False
    return before[-1] != "'" or len(before) == 1 or not before[-2].isalnum()


def _is_group(name: str) -> bool:
    """Whether ``name`` is a group's: "Gruppo Ferretti Casa", "Harbor Lane Group", "Aster Holding"."""
    words = name.lower().split()
    return words[0] in GROUP_WORDS or words[-1] in GROUP_WORDS


def uses_of(name: str, text: str) -> list[tuple[int, int]]:
    """Where ``text`` writes ``name`` as a whole word (str.find, not a regex compiled per name)."""
    found: list[tuple[int, int]] = []
    start = text.find(name)
    while start >= 0 and name:
        end = start + len(name)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            found.append((start, end))
        start = text.find(name, start + 1)
    return found


def _describe(candidates: list[Candidate], subject: str, text: str, domain: str) -> None:
    """Fill each candidate's features: its sources, and how it sits beside the mail and the others."""
    core = parent_core(domain)
    fit_domain = core or domain
    fits = {c.name: domain_score(c.name, fit_domain) if fit_domain else 0.0 for c in candidates}
    client_named = any({"client", "works_for"} & set(c.sources) for c in candidates)
    # Does any name the mail writes fit the domain? If none does, the domain itself is the best guess.
    any_fit = any(fits[c.name] >= 2 for c in candidates if set(c.sources) != {"domain"})
    names = {c.name: c for c in candidates}
    given = _given_names()
    after_given = {m.end() for m in _WORD_THEN_SPACE.finditer(text) if m.group(1).lower() in given}
    introduced = {"we_are", "acts", "team", "client", "works_for"}
    agency_domain = bool(_AGENCY_WORDS.search(domain))
    # "Proposta Kettlebrook - Rosa Mancini" from a distributor's domain: when no name the subject gives
    # fits the sender's domain, the subject's names speak for a brand other than the sender's.
    sender_unnamed = bool(fit_domain) and not any(fits[c.name] >= 3 and c.name in subject for c in candidates)
    spans = {c.name: uses_of(c.name, text) for c in candidates}

    def alone(name: str, longer: list[str]) -> int:
        """Uses of ``name`` not inside a use of one of the ``longer`` names."""
        inside = [span for other in longer for span in spans[other]]
        return sum(1 for a, b in spans[name] if not any(s <= a and b <= e for s, e in inside))

    for c in candidates:
        f = c.features
        fit = fits[c.name]
        if _AGENCY_WORDS.search(c.name):
            f["agency_word"] = 1.0
        if agency_domain:
            f["agency_domain"] = 1.0
            if fit >= 2:
                f["fit&agency_domain"] = 1.0
        for source in c.sources:
            f[f"src:{source}"] = 1.0
            if fit >= 3:
                f[f"src:{source}&fit"] = 1.0
        if set(c.sources) == {"name"}:
            f["only_a_name"] = 1.0
        if len(c.sources) >= 3:
            f["many_sources"] = 1.0
        for threshold in (1, 2, 3, 4):
            if fit >= threshold:
                f[f"fit>={threshold}"] = 1.0
        if core:
            f["group_domain"] = 1.0
        if not domain:
            f["no_domain"] = 1.0
        if client_named:
            f["client_named"] = 1.0
            if fit >= 3:
                f["fit&client_named"] = 1.0
        if "domain" in c.sources and not any_fit:
            f["domain&nothing_fits"] = 1.0
        uses = len(spans[c.name])
        f["uses"] = math.log1p(uses)
        if uses == 0:
            f["unused"] = 1.0
        if 0 <= text.find(c.name) < 300:
            f["early"] = 1.0
        if c.name in subject:
            f["in_subject"] = 1.0
            if sender_unnamed:
                f["in_subject&sender_unnamed"] = 1.0
        f[f"words={min(3, len(c.name.split()))}"] = 1.0
        if c.name.split()[0].lower() in given:
            f["given_name"] = 1.0
        elif any(start in after_given for start, _ in spans[c.name]):
            f["after_given_name"] = 1.0  # "Alessandro Bruno": a surname, not a brand
        if c.name.isupper():
            f["all_caps"] = 1.0
        # '"Build It Back"', '« Maman en Vrac »', '„Gipfelform“': a campaign's, a show's or a product's
        # name is quoted; a brand's rarely is
        if any(_quoted(text, a, b) for a, b in spans[c.name]):
            f["quoted"] = 1.0
        longer = [o for o in names if o != c.name and f" {c.name} " in f" {o} "]
        shorter = [o for o in names if o != c.name and f" {o} " in f" {c.name} "]
        if longer:
            f["has_longer"] = 1.0
            # "Mossgrove" four times on its own, "Mossgrove Skincare" once: the mail's name is the short one.
            if alone(c.name, longer) > max(len(spans[o]) for o in longer):
                f["alone_more_than_longer"] = 1.0
        if shorter and any(alone(o, [c.name]) > len(spans[c.name]) for o in shorter):
            f["shorter_alone_more"] = 1.0
        if shorter:
            f["has_shorter"] = 1.0
        if any(introduced & set(names[o].sources) for o in longer):
            f["longer_introduced"] = 1.0
        if fit_domain and any(fits[o] >= 3 for o in shorter):
            f["contains_fit"] = 1.0
