"""Offer extraction: the terms a brand's mail offers now, as the agency means them.

The fee is the total offered now for what is asked: rate cards, last campaign's price, a counter-offer
the mail replaces, a product's price, capital in a legal footer and commission earnings claims are
skipped; a per-unit price is multiplied by its count; a range stays a range; no cash at all is kind
"none" with why; an amount with no currency anywhere is "unstated" (a currency is never guessed).
The current text (``readable(body).current``) is read before the quoted thread. Every answer lists
its cues in ``reasons``. Deterministic, standard library only, bounded in time on hostile input.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date
from decimal import Decimal
from typing import Final, NamedTuple

from talentq.domain.mail.amounts import CHANGE_FROM, Amount, find_amounts, to_minor
from talentq.domain.mail.brands import find_brand
from talentq.domain.mail.parties import find_talent
from talentq.domain.mail.platforms import (
    NUMBER_WORDS,
    RIGHTS_WORDS,
    Mention,
    deliverables,
    find_mentions,
    platform_of,
)
from talentq.domain.mail.terms import DealTerms, Deliverable, Fee, NoFeeWhy
from talentq.domain.mail.text import Readable, forwarded, readable

#: Most characters of a body read: offers say what matters early, and regexes over a megabyte of text
#: are time a worker cannot spare.
TEXT_LIMIT: Final = 20_000


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


#: Where a sentence begins: after its stop and space, or a new line.
_SENTENCE_BREAK: Final = re.compile(r"(?<=[.!?])\s+|\n")
#: What joins a price to the item it prices: "$1,200 for a Short", "600 € per una storia".
_PRICED_ITEM: Final = re.compile(r"\s*(?:per|for|pour|für|por|para|a|à|al)\s+", re.IGNORECASE)
# Cues in the words before an amount (same clause) that make it something other than the offer.
_SKIP_BEFORE: Final = [
    ("rate card", _rx(
        r"rate ?card|media ?kit|kit m[ée]dia|grille tarifaire|tarifario|listino|preisliste|mediadaten|"
        r"standard rate|usual rate|"
        r"\b(?:his|her|their|[A-Z]\w+['\u2019]s) (?:current |standard |usual |normal )?(?:rate|fee|minimum|"
        # "Orrin's fee for Matteo is €6,000": a brand's offer for a creator, not the creator's rate
        r"number|tarif)s?\b"
        r"(?!\s+for\s+(?:(?-i:[A-Z][a-z]+)|(?:the |this |our )?(?:package|bundle|campaign))\s+"
        r"(?:is|are|would|will)\b)|"
        r"\btarif (?:de|d['\u2019])|\bsatz\b|\bindica\b|\bindique\b|\bfigura\b|rates? (?:are|is) below|"
        r"tarifa de"
    )),
    ("last campaign's price", _rx(
        r"last (?:year|time|campaign|season|christmas|summer|spring)|letzte[ns]? (?:jahr|mal)|vorjahr|"
        r"weihnachtsaktion|l['\u2019]anno scorso|l['\u2019]ultima volta|l['\u2019]année dernière|"
        r"la dernière fois|"
        r"el año pasado|aquella vez|la última vez|previously|avions versé|avait|rémunéré|lagen wir|"
        r"(?:le|les) pagamos|"
        r"abbiamo pagato|(?:we|they) paid|paid (?:her|him|them)|vorig jaar|\bin 20\d\d\b|au printemps 20\d\d|"
        r"campagne de noël|hatten wir|bezahlt haben"
    )),
    ("replaced counter-offer", _rx(
        r"can['\u2019]?t (?:quite )?(?:do|go|reach|stretch|meet|pay|manage|afford)|cannot|can not|unable to|"
        r"instead of|rather than|in plaats van|\bvroegen\b|(?:first|eerste|erste[ns]?) "
        r"(?:offer|voorstel|angebot)|première proposition|primera propuesta|prima proposta|\bstatt\b|anstatt|"
        r"au lieu de|en lugar de|invece d|ne (?:pouvons|pourrons) pas|"
        r"no llegamos|no podemos|non possiamo|non riusciamo|können (?:leider )?nicht|first mentioned|"
        r"originally|ursprünglich|"
        r"initially|you (?:asked|quoted|proposed|requested)|your (?:ask|quote|counter)|asked for|offer of|"
        r"thanks for the offer|merci pour (?:la|votre) proposition|danke für das angebot|"
        r"contre-proposition (?:de|d['\u2019])|counter-?(?:offer|proposal) (?:of|from)|"
        r"gegenangebot (?:von|über)|contrapropuesta de|controproposta di|"
        # "up from the £900", "alzare la proposta da 1.500 €": the figure an offer is raised from
        + CHANGE_FROM
    )),
    ("a voucher", _rx(
        r"gift ?card|voucher|gutschein|buono|carte[- ]cadeau|tarjeta regalo|cheque regalo|vale de compra|"
        r"cadeaubon|cadeaukaart|cart[aã]o[- ]presente"
    )),
    ("a product's price", _rx(
        r"worth|valued?|retail|ter waarde van|\brrp\b|\bpvp\b|valore|im wert|wert von|valeur|\bcosts?\b|"
        r"\bkostet\b|"
        r"co[uû]te\b|\bcuesta\b|\bcusta\b|\bprix\b|\bpreis|"
        r"precio|prezzo|\buvp\b|\bmsrp\b"
    )),
    ("an earnings claim", _rx(
        r"earn(?:s|ing)?(?: up to| as much as)?|verdienen|guadagn|ganan|génèrent|arrivano|superano|"
        r"generate|make up to|top (?:creators|ambassadors|partners|affiliates)|commission"
    )),
    ("a fee to pay", _rx(
        r"you (?:would |will )?(?:need to |have to |only )?pay|pay us|registration fee|"
        r"(?:one-time|upfront|small) fee"
    )),
    ("an instalment", _rx(
        r"instal?lments? of|monthly payments? of|(?:monats)?raten (?:von|à|zu)|mensualités de|"
        r"cuotas (?:mensuales )?de|rate (?:mensili )?(?:da|di)|termijnen van|versements de"
    )),
]  # fmt: skip
#: A company's capital in a legal footer ("Cap. Soc. € 100.000,00 i.v."): read in the 30 characters
#: before the amount, as its abbreviation's stops would end the clause.
_CAPITAL: Final = _rx(r"capital|cap\. ?soc|stammkapital")
_SKIP_AFTER: Final = [
    ("replaced counter-offer", _rx(
        r"^[^.\n]{0,25}?\b(?:is|are|was|sont|est|ist|sind|es|è|sono)\s+(?:\w+\s+){0,3}?"
        r"(?:beyond|outside|above|over|more than|too|au-dessus|hors|über|fuera|oltre|sopra|unter|below|under)"
        # "€4,000, which is above the integration rate": an offer above a rate is still the offer
        r"(?!\s+(?:the |your |his |her |their |its )?(?:[\w-]+ )?(?:rate|tarif|card))"
    )),
    # "the 2.000 € iniciales", "the £1,400 you quoted", "die 3.400 €, die du vorgeschlagen hast": the
    # brand's first figure, or the agency's ask, beside the figure offered now
    ("replaced counter-offer", _rx(
        r"^\s*(?:iniciales|inicial|initial(?:e|es|ly)?|iniziali|iniziale|ursprünglich\w*|d['\u2019]origine|"
        r"de départ|first (?:offered|mentioned|proposed))\b|"
        r"^[,\s]*(?:(?:that|which|die|den|que|che|qui|dat)\s+)?(?:you|du|ihr|vous|tu|nos|ci|avete|habéis|"
        r"avez|u|jij|jullie|voi)\b[^.\n\d]{0,25}?(?:quot|propos|suggest|ask|request|vorgeschlagen|genannt|"
        r"gefordert|verlangt|planteab|propus|ped[ií]|demand|chiest|indicat|richiest|voorgesteld|gevraagd)"
    )),
    ("an earnings claim", _rx(r"^\s*(?:de |di |in |an |of )?(?:commissions?|provision|commissioni)")),
    ("commission", _rx(
        r"^\s*(?:per|pour|por|pro|für|for)\s+(?:each |every |ogni |chaque |cada |jede[ns]? )?(?:funded |"
        r"new )?"
        r"(?:conto|account|sale|vente|venta|verkauf|order|sign-?up|referral|conversion|abonnement|subscriber)"
    )),
    ("a product's price", _rx(r"^\s*\)?\s*(?:worth|value|retail)")),
]  # fmt: skip
_TOTAL: Final = _rx(
    r"\btotal|insgesamt|gesamt|\bsumme\b|in totale|complessiv|au total|en total|all[- ]in|"
    r"for (?:both|all|the lot|"
    r"everything|the (?:whole|full|entire) (?:package|campaign|term|period|year|ambassadorship))|"
    r"pour l['\u2019]ensemble|für alle|por todo|para todo|per tutto|"
    r"per l['\u2019]intero|voor het (?:totaal|geheel)|in totaal|voor de hele|für den gesamten|"
    r"pour toute la"
)
#: A label and its colon just before an amount ("Fee:", "Compenso complessivo:").
_LABEL: Final = re.compile(r"(?:^|\n|[.!?]\s)\W*([^\W\d][^:\n]{0,30}):\s*$")
#: Words that restate what came before as a total: "€600 per week, so €2,400"; they point forward only.
_RESTATE: Final = _rx(r"\bsoit\b|\bso\b|es decir|cioè|\balso\b")
_FEE_WORDS: Final = _rx(
    r"fee|budget|offer|pay|rate|compensation|honorar|vergütung|angebot|budget|compenso|cachet|rémunération|"
    r"presupuesto|honorarios|caché|tarif|vergoeding|cachê|propos|total|bieten|anbieten|ofrecemos|offriamo"
)
_UNIT: Final = r"(?P<unit>[\w-]+(?: [\w-]+)?)"
# "€800 per post", "à 800 € chacun", "£1,500 each", "650 € per ciascun Reel", "a 750 € por directo"
_PER_AFTER: Final = _rx(
    r"^\s*(?:(?:HT|net|netto|nett|brutto|excl\.? VAT|\+ ?(?:IVA|VAT|MwSt\.?|BTW))\s*)?"
    r"(?:(?P<each>each|chacun|chacune|cada uno|cada una|ciascuno|pro stück|apiece|l['\u2019]uno)\b|"
    r"(?:(?:per|pro|par|por|a|à|je)\s+|/\s*)"
    r"(?:each |every |ogni |chaque |cada |ciascun[oa]? |single |one |un |"
    r"una |une )?"
    # "por todo", "pour le tout", "for everything": a total, not a price per unit
    r"(?!(?:todo|toda|tout|le tout|tutto|alles|everything|all|both|the lot|l['\u2019]ensemble)\b)"
    rf"{_UNIT})"
)
_PER_BEFORE: Final = _rx(r"(?:(?<!\w)à|\bat|\bje|zu je|@)\s*$")
# "Pro Video bieten wir 1.200 €", "Per post we offer $500": the unit opens the sentence the price closes.
_PER_LEAD: Final = _rx(
    r"(?:^|[.!?:]\s+|\n)(?:pro|per|par|por|je|for each|each|ogni|chaque|cada|für jede[ns]?)\s+"
    # one clause from unit to price: "Each TikTok should be short, we offer $2,000" is no unit price
    rf"{_UNIT}[^.!?\n\d,;]{{0,30}}$"
)
_PERIOD_WORD: Final = _rx(r"^(?:month|mois|monat|mese|mes|maand|mês|week|semaine|woche|settimana|semana)")
# "€700 per read", "350 € por mención": a podcast's ad reads are counted by its episodes
_EPISODE_WORD: Final = _rx(
    r"^(?:episod|épisode|folge|puntata|show|read\b|reads\b|spot|mention|menci|menzion|lecture)"
)
#: A unit that is any of the items asked: "1.200 € a contenuto" for 2 Reels and a post is 3 units.
_ANY_ITEM: Final = _rx(
    r"^(?:content(?: piece)?s?\b|contenu|contenut[oi]|contenidos?|conteúdos?|inhalt|piece|pièce|pezzo|pieza|"
    r"item|deliverable)"
)
_MONTHS: Final = _rx(
    r"(?<![\w'\u2019])(?P<count>\d{1,2}|"
    + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True))
    + r")[- ](?:months?|mois|monate?n?|mesi|meses|maanden)\b"
    + rf"(?![^.\n]{{0,25}}(?:{RIGHTS_WORDS}|organi))"
)
_COMMISSION_ONLY: Final = _rx(
    r"commission[- ]only|commission[- ]based|only commission|solo (?:a )?commission|"
    r"à la commission uniquement|"
    r"no (?:fixed|flat|upfront) fee|pas de (?:cachet|rémunération) fixe|nessun compenso fisso|"
    r"non è previsto un compenso fisso|sin (?:pagos?|honorarios?|fijo)|"
    r"no hay (?:(?:pagos?|honorarios?) )?fijos?|"
    r"kein(?:e|en)? (?:festes honorar|fixum|fixhonorar|fixe vergütung)|nur provision|affiliate[- ]only|"
    r"pas de rémunération fixe|senza compenso fisso|il n['\u2019]y a pas de rémunération fixe|"
    r"affiliate programme only|geen vaste vergoeding|vaste vergoeding[^.\n]{0,40}\bniet\b"
)
_NO_CASH: Final = _rx(
    r"no (?:cash )?fee\b|no payment|no cash|can['\u2019]?t pay|cannot pay|unable to pay|no (?:paid )?budget|"
    r"product[- ]only|kein honorar|honorar können wir[^.]{0,40}nicht|ohne bezahlung|keine bezahlung|"
    r"(?:ne (?:pouvons|peut) pas|pas) rémunérer|sans rémunération|pas de budget|uniquement en produits|"
    r"no (?:tenemos|manejamos) presupuesto|sin remuneración|no incluye pago|no hay pago|non abbiamo budget|"
    r"nessun compenso in denaro|compenso sarà in prodotti|non (?:possiamo|riusciamo a) pagare|"
    r"n['\u2019]avons pas de budget|geen budget|sem remuneração|reines geschenk|ohne gegenleistung|"
    r"sans (?:aucune )?contrepartie|sin (?:ningún )?compromiso|senza (?:alcun )?(?:impegno|obbligo)|"
    r"no strings\b|betalen kunnen we[^.\n]{0,20}niet|(?:kein|keine) budget|"
    r"budget für bezahlte[^.\n]{0,30}haben wir[^.\n]{0,20}nicht\b|"
    r"(?:don['\u2019]?t|do not) have (?:a |any )?(?:cash )?budget|"
    r"sans (?:aucune )?obligation|"
    r"(?:n['\u2019]est|ce n['\u2019]est) (?:absolument |vraiment )?pas une obligation|"
    r"no obligation|keine verpflichtung|nessun obbligo|"
    # "no podemos pagar colaboraciones", "we don't work with paid fees": no cash, whatever follows
    r"no (?:podemos|puedo|podríamos) pagar|ne (?:pouvons|pourrons) pas payer|"
    r"(?:don['\u2019]?t|do not) (?:work with|offer|do) paid (?:fees|collaborations|partnerships)|"
    r"geen vergoeding|vergoeding in geld zit er[^.\n]{0,30}niet|alleen het product"
)
_GIFT: Final = _rx(
    r"\bgift|geschenk|regal[oa]|regalar|offert[e]? à|cadeau|omaggio|presente para|"
    r"(?:hosted|complimentary) (?:stay|trip|weekend|night)|vous faire plaisir"
)
_PRODUCT_ONLY: Final = _rx(
    r"product[- ]only|uniquement en produits|in prodotti|productos, sin|sin remuneración|licen[cs]e|"
    r"can['\u2019]?t pay a cash fee|ne (?:pouvons|peut) pas rémunérer|alleen het product"
)
_RATE_BREAK: Final = re.compile(r",\s*(?:so|but|donc|also|pero|ma|mais|aber)\b|\bbut\b", re.IGNORECASE)
_COMMISSION: Final = _rx(
    r"commission|affiliate|provision|commissione|comisi[óo]n|% (?:on|of|per|auf|sur|su)\b"
)
_IN_EXCHANGE: Final = _rx(
    r"in exchange for|in return for|im austausch (?:für|gegen)|im gegenzug|en échange|en contrepartie|"
    r"a cambio|in cambio|in ruil voor"
)
_CLAUSE_BREAK: Final = re.compile(
    r"[.!?;:]\s|\n|\bbut\b|\baber\b|\bmais\b|\bpero\b|\bma\b|\u2013|\u2014", re.IGNORECASE
)


class OfferText(NamedTuple):
    """An offer as extraction reads it, bounded (the brand ranker's training reads it so too)."""

    subject: str
    #: The current text and the quoted thread, and the signature a "-- " line sets apart from the
    #: current text: no terms in it, but often the brand.
    text: Readable


def offer_text(subject: str, body: str) -> OfferText:
    """The subject and the body as ``readable`` splits it, each part bounded."""
    parts = readable(body[: TEXT_LIMIT * 5])
    bounded = Readable(parts.current[:TEXT_LIMIT], parts.quoted[:TEXT_LIMIT], parts.signature)
    return OfferText(subject[:1000], bounded)


def brand_reading(read: OfferText, sender: str) -> tuple[str, str, str]:
    """The subject, text and sender the brand is read from: the current text with its signature, or a
    forwarded offer's own, when the mail forwards one (a colleague's "see below" names no brand; the
    forwarded mail's sender does)."""
    if read.text.quoted and (inner := forwarded(read.text.quoted)) is not None:
        return inner.subject or read.subject, inner.text.signed, inner.sender
    return read.subject, read.text.signed, sender


def offer_creator(read: OfferText, sender: str) -> str | None:
    """The creator the offer seems to be for, read before the brand is known: the brand ranker weighs
    a name within theirs as the creator's, not the brand's."""
    talent = find_talent(read.subject, read.text.current, read.text.quoted, sender, None)
    return talent.name if talent else None


def extract_deal(subject: str, body: str, *, sender: str = "", reference: date | None = None) -> DealTerms:
    """The fee, deliverables, brand, talent and campaign window the mail offers now, with the cues."""
    read = offer_text(subject, body)
    subject, current, quoted = read.subject, read.text.current, read.text.quoted
    reasons: list[str] = []

    mentions = _asked(f"{subject}\n{current}", find_mentions(f"{subject}\n{current}"))
    if not mentions and quoted:
        mentions = _asked(quoted, find_mentions(quoted))
        if mentions:
            reasons.append("content read from the quoted thread")
    content = deliverables(mentions)
    for mention in mentions:
        reasons.append(f"content {mention.text!r}" + (" (optional)" if mention.optional else ""))

    fee = _fee(subject, current, quoted, content, mentions, reasons)

    creator = offer_creator(read, sender)
    brand, agency = find_brand(*brand_reading(read, sender), creator=creator)
    if brand is not None:
        reasons.append(
            f"brand {brand.name!r}: {brand.why}" + (f"; sender is its agency {agency!r}" if agency else "")
        )
    talent = find_talent(subject, current, quoted, sender, brand.name if brand else None)
    if talent is not None:
        reasons.append(f"talent {talent.name!r}: {talent.why}")

    starts_on, ends_on = campaign_window(f"{subject}\n{current}", reference or date.today())
    if starts_on is not None:
        reasons.append(f"window {starts_on.isoformat()}..{ends_on}")
    return DealTerms(
        fee=fee,
        deliverables=content,
        brand=brand.name if brand else None,
        talent=talent.name if talent else None,
        reasons=reasons,
        starts_on=starts_on,
        ends_on=ends_on,
    )


def _fee(
    subject: str, current: str, quoted: str, content: list[Deliverable], mentions: list[Mention],
    reasons: list[str],
) -> Fee:  # fmt: skip
    whole = f"{subject}\n{current}"
    if match := _COMMISSION_ONLY.search(whole):
        reasons.append(f"no cash fee: commission only ({match.group(0)!r})")
        return Fee("none", why="commission_only", text=match.group(0))
    no_cash = _NO_CASH.search(whole)
    if no_cash:
        why: NoFeeWhy = "product_only" if _PRODUCT_ONLY.search(whole) or not _GIFT.search(whole) else "gifted"
        if not any(not d.optional for d in content) and not _PRODUCT_ONLY.search(whole):
            why = "gifted"  # nothing asked in return: a gift, not product paid for content
        # "No fee, but 20% on every sale": paid by commission, not in product.
        if _COMMISSION.search(whole):
            why = "commission_only"
        reasons.append(f"no cash fee: {why} ({no_cash.group(0)!r})")
        return Fee("none", why=why, text=no_cash.group(0))
    picked = _pick(current, content, mentions, reasons, "current offer")
    if picked is None and quoted:
        picked = _pick(quoted, content, mentions, reasons, "quoted thread")
    if picked is not None:
        return picked
    gift = _GIFT.search(whole)
    if gift and re.search(r"\b(?:no|kein|pas|sin|nessun)\b", whole, re.IGNORECASE):
        reasons.append("gifted: no fee named")
        return Fee("none", why="gifted", text=gift.group(0))
    # "We'll send you the X (worth $200) in exchange for 1 Reel": paid in product, not cash.
    if content and (exchange := _IN_EXCHANGE.search(whole)):
        why = "gifted" if gift else "product_only"
        reasons.append(f"no cash fee: {why} ({exchange.group(0)!r})")
        return Fee("none", why=why, text=exchange.group(0))
    for amount in find_amounts(current):
        before = current[max(0, amount.start - 60) : amount.start]
        if amount.currency is None and amount.value >= 50 and _FEE_WORDS.search(before[-30:]):
            reasons.append(f"fee {amount.text!r} names no currency: unstated")
            return Fee("unstated", text=amount.text)
    return Fee("unstated")


def _asked(text: str, mentions: list[Mention]) -> list[Mention]:
    """The mentions that ask for something: not the items a quoted rate card prices ("his rate card
    lists $3,000 for a dedicated YouTube video and $1,200 for a Short")."""
    rate_card = _SKIP_BEFORE[0][1]
    amounts = find_amounts(text)
    asked = []
    for mention in mentions:
        # The cue's own clause: "her fee is above our budget, but we offer $1,500 for a Reel" asks.
        opens = max((m.end() for m in _SENTENCE_BREAK.finditer(text, 0, mention.start)), default=0)
        opens = max((m.end() for m in _RATE_BREAK.finditer(text, opens, mention.start)), default=opens)
        cue = rate_card.search(text, opens, mention.start)
        priced = cue is not None and any(
            cue.end() <= amount.start and _PRICED_ITEM.fullmatch(text, amount.end, mention.start)
            for amount in amounts
        )
        if not priced:
            asked.append(mention)
    return asked


def _pick(
    text: str, content: list[Deliverable], mentions: list[Mention], reasons: list[str], where: str
) -> Fee | None:
    """The offer among the amounts of ``text``: each weighed by its clause, skipped ones said why."""
    amounts = [a for a in find_amounts(text) if a.currency is not None and a.value >= 20]
    rate_card_lines = _rate_card_blocks(text)
    best: tuple[float, int, Fee] | None = None
    previous_end = 0
    for index, amount in enumerate(amounts):
        clause_start = max(
            [m.end() for m in _CLAUSE_BREAK.finditer(text, max(0, amount.start - 160), amount.start)]
            + [previous_end, max(0, amount.start - 160)]
        )
        previous_end = amount.end
        before = text[clause_start : amount.start]
        # What follows an amount is about it up to the next one: "€600 per week, so €2,400 in total".
        upto = amounts[index + 1].start if index + 1 < len(amounts) else len(text)
        after = text[amount.end : min(amount.end + 80, upto)]
        sentence_start = max(
            [m.end() for m in re.finditer(r"[.!?]\s|\n", text[max(0, amount.start - 200) : amount.start])]
            + [0]
        ) + max(0, amount.start - 200)
        sentence_before = text[sentence_start : amount.start]
        skip = next((why for why, rx in _SKIP_BEFORE[1:] if rx.search(before)), None)
        if skip is None and _CAPITAL.search(text, max(0, amount.start - 30), amount.start):
            skip = "capital in a legal footer"
        if skip is None:
            # A rate card is often introduced before a colon: "the listino of Federico: 1.500 € a Reel".
            rate_clause = sentence_before[
                max([0] + [m.end() for m in _RATE_BREAK.finditer(sentence_before)]) :
            ]
            skip = "rate card" if _SKIP_BEFORE[0][1].search(rate_clause) else None
        if skip is None:
            skip = next((why for why, rx in _SKIP_AFTER if rx.search(after)), None)
        if skip is None and any(s <= amount.start < e for s, e in rate_card_lines):
            skip = "rate card"
        if skip:
            reasons.append(f"skipped {skip} {amount.text!r}")
            continue
        fee, per_unit = _as_fee(text, amount, content, mentions)
        score = 1.0
        # "Total: 3.200 €", "Compenso complessivo: 3.500,00 €", "Vergoeding: € 4.800": the label before
        # the colon speaks for the amount (the colon ends the clause the cues are read in)
        labelled = _LABEL.search(text, max(0, amount.start - 40), amount.start)
        label = labelled.group(1) if labelled else ""
        if (
            _TOTAL.search(before[-60:])
            or _RESTATE.search(before[-60:])
            or _TOTAL.search(after[:40])
            or _TOTAL.search(label)
        ):
            score += 2.0
        if _FEE_WORDS.search(before[-80:]) or _FEE_WORDS.search(label):
            score += 1.0
        if per_unit:
            score += 0.5
        score += index * 0.01  # a later amount restates or revises an earlier one
        if best is None or score > best[0]:
            best = (score, index, fee)
    if best is None:
        return None
    reasons.append(f"fee {best[2].text!r} ({where})")
    return best[2]


def _as_fee(
    text: str, amount: Amount, content: list[Deliverable], mentions: list[Mention]
) -> tuple[Fee, bool]:
    """The amount as a Fee, a per-unit price multiplied by how many units are asked."""
    currency = amount.currency
    if amount.high is not None:
        return Fee("range", currency, min_minor=to_minor(amount.value, currency),
                   max_minor=to_minor(amount.high, currency), text=amount.text), False  # fmt: skip
    units = _units(text, amount, content, mentions)
    if units and units > 1:
        return Fee("exact", currency, minor=to_minor(amount.value * Decimal(units), currency),
                   text=f"{amount.text} \u00d7 {units}"), True  # fmt: skip
    return Fee("exact", currency, minor=to_minor(amount.value, currency), text=amount.text), False


def _units(text: str, amount: Amount, content: list[Deliverable], mentions: list[Mention]) -> int | None:
    """How many units a per-unit price pays for, or None when the amount is no per-unit price."""
    after = text[amount.end : amount.end + 60]
    required = {d.platform: d.count for d in content if not d.optional}
    if per := _PER_AFTER.match(after):
        if per.group("each"):
            return _nearest_count(text, amount, required)
        return _count_of_unit(per.group("unit"), text, amount, required)
    if _PER_BEFORE.search(text[max(0, amount.start - 6) : amount.start]):
        return _nearest_count(text, amount, required)
    if lead := _PER_LEAD.search(text, max(0, amount.start - 60), amount.start):
        return _count_of_unit(lead.group("unit"), text, amount, required)
    return None


def _count_of_unit(unit: str, text: str, amount: Amount, required: dict[str, int]) -> int | None:
    """How many of ``unit`` (the words a price is "per") the offer asks, or None when it is no item."""
    if _PERIOD_WORD.match(unit):
        months = _MONTHS.search(text)
        if months:
            raw = months.group("count").lower()
            return int(raw) if raw.isdigit() else NUMBER_WORDS.get(raw)
        return None
    if _EPISODE_WORD.match(unit):
        return required.get("podcast")
    if _ANY_ITEM.match(unit):
        return sum(required.values()) or None
    generic = re.match(
        r"(?:video|vidéo|vídeo|stream|directo|diretta|post|contenu|content|piece|pièce)", unit, re.IGNORECASE
    )
    for size in (2, 1):
        platform = platform_of(" ".join(unit.split()[:size]))
        # "$450 per video" for TikToks: "video" is any video, not a YouTube one
        if platform is not None and (platform in required or not generic):
            return required.get(platform)
    if generic:
        return _nearest_count(text, amount, required)
    return None


def _nearest_count(text: str, amount: Amount, required: dict[str, int]) -> int | None:
    """The count of the item named just before a price ("3 Reels à 800 €", "2 TikToks at £1,500 each")."""
    before = find_mentions(text[max(0, amount.start - 150) : amount.start])
    if before and before[-1].platform in required:
        return required[before[-1].platform]
    if len(required) == 1:
        return next(iter(required.values()))
    return None


def _rate_card_blocks(text: str) -> list[tuple[int, int]]:
    """The list lines under a line that introduces a rate card ("her current rates are below:"), up to
    the first line that is no list item."""
    out: list[tuple[int, int]] = []
    for match in re.finditer(
        r"(?im)^[^\n]*(?:rate ?card|rates?|tarif\w*|media ?kit|listino|preisliste)[^\n]*:[ \t]*\n", text
    ):
        end = match.end()
        for line in re.finditer(r"[^\n]*\n?", text[match.end() :]):
            item = line.group(0)
            if not item or (
                item.strip() and not re.match(r"\s*(?:[\u2022\-\u2013*]|[^\n]{0,40}:\s*\S)", item)
            ):
                break
            end = match.end() + line.end()
        out.append((match.end(), end))
    return out


_MONTH = (
    r"(?P<{name}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b"
)
_DAY = r"(?P<{name}>[0-3]?\d)(?:st|nd|rd|th)?"
_DATES: Final = [
    # "between 1 and 15 April", "1-15 April", "7 to 21 Oct"
    re.compile(
        rf"\b{_DAY.format(name='d1')}\s*(?:-|\u2013|to|and|until)\s*{_DAY.format(name='d2')}\s+(?:of\s+)?"
        + _MONTH.format(name="m"),
        re.I,
    ),
    # "April 1", "Oct 7th"
    re.compile(rf"\b{_MONTH.format(name='m')}\.?\s+{_DAY.format(name='d1')}\b", re.I),
    # "15 April", "7th of October"
    re.compile(rf"\b{_DAY.format(name='d1')}\s+(?:of\s+)?" + _MONTH.format(name="m"), re.I),
    # "in June", "late August", "first two weeks of June": the whole month
    re.compile(
        r"\b(?:in|during|early|mid|late|of|for|through|throughout)\s+" + _MONTH.format(name="m"), re.I
    ),
]


def _month_number(name: str) -> int:
    return ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].index(
        name[:3].lower()
    ) + 1


def campaign_window(text: str, reference: date) -> tuple[date | None, date | None]:
    """The first and last day the text names, each in the year that puts it after ``reference``."""
    days: list[date] = []

    def year_of(month: int) -> int:
        # An offer in November for "March" means next March.
        return reference.year + (1 if month < reference.month else 0)

    def on(month: int, day: int) -> None:
        if 1 <= day <= monthrange(year_of(month), month)[1]:
            days.append(date(year_of(month), month, day))

    for pattern in _DATES:
        for match in pattern.finditer(text):
            month = _month_number(match.group("m"))
            groups = match.groupdict()
            if groups.get("d1"):
                on(month, int(groups["d1"]))
                if groups.get("d2"):
                    on(month, int(groups["d2"]))
            else:
                on(month, 1)
                on(month, monthrange(year_of(month), month)[1])
    if not days:
        return None, None
    return min(days), max(days)
