"""The rules deliverable-review checks content against: disclosure, brand handle, links, claims, length.

Pure functions over the content and what the contract (or, without one, the brand) asks
for; no database, no I/O. Every rule is one linear scan (word lists and fixed patterns
with lookarounds, no nested quantifiers), so a 1 MB submission is reviewed in well under a
second, and a finding quotes at most a short excerpt of the content, never the content.

Also the one definition of the contract terms that set these rules (``RULE_TERMS``) and of a
valid value for each (``read_rule_term``), which ``talentq.deals`` applies to the terms
contract_finalisation and ai-contract accept.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

Severity = Literal["error", "warning"]


def _spaced_words(phrase: str) -> str:
    """A literal phrase as a pattern in which any run of whitespace separates its words."""
    return r"\s+".join(re.escape(word) for word in phrase.split())


#: The longest text each platform takes in the field a deliverable's content goes into.
PLATFORM_LIMITS: Final[Mapping[str, tuple[int, str]]] = {
    "instagram": (2_200, "an Instagram caption"),
    "tiktok": (2_200, "a TikTok caption"),
    "youtube": (5_000, "a YouTube description"),
    "twitter": (280, "a post on X"),
    "threads": (500, "a Threads post"),
    "bluesky": (300, "a Bluesky post"),
    "linkedin": (3_000, "a LinkedIn post"),
    "pinterest": (500, "a Pinterest pin description"),
    "snapchat": (250, "a Snapchat caption"),
    "facebook": (63_206, "a Facebook post"),
}
#: A platform without a rule is held to the longest post any platform takes.
FALLBACK_LIMIT: Final = max(limit for limit, _ in PLATFORM_LIMITS.values())
_PLATFORM_ALIASES: Final = {
    "ig": "instagram",
    "insta": "instagram",
    "reels": "instagram",
    "tt": "tiktok",
    "yt": "youtube",
    "shorts": "youtube",
    "x": "twitter",
    "tweet": "twitter",
    "fb": "facebook",
}

#: Disclosure must be hard to miss: where captions are cut ("... more"), it belongs before the cut.
DISCLOSURE_VISIBLE_CHARS: Final = 125
_DISCLOSURE: Final = re.compile(
    r"(?<![\w#])#(?:ad|advert|advertisement|sponsored|paidpartnership)(?!\w)|\bpaid partnership\b",
    re.IGNORECASE,
)

#: Conditions a post must not claim to cure, treat, heal or prevent (advertising codes, FTC and
#: ASA/CAP, forbid medical claims for products that are not licensed medicines).
CONDITIONS: Final = (
    "acne", "eczema", "psoriasis", "rosacea", "dermatitis", "cancer", "diabetes", "arthritis",
    "asthma", "depression", "anxiety", "insomnia", "migraines", "migraine", "hair loss", "baldness",
    "infections", "infection", "inflammation", "allergies", "hypertension", "high blood pressure",
    "obesity", "ibs", "covid", "the flu", "flu", "colds", "a cold",
)  # fmt: skip
_CURE: Final = r"(?:cure[sd]?|treat(?:s|ed)?|heal(?:s|ed)?|prevent(?:s|ed)?|reverse[sd]?)"
_REMEDY: Final = r"(?:(?:the\s+)?(?:cure|treatment|remedy)\s+for)"
_CONDITION: Final = r"(?:(?:your|my|their|his|her)\s+)?(?:" + "|".join(map(_spaced_words, CONDITIONS)) + ")"

#: Claims advertising codes treat as needing substantiation the talent cannot give: medical
#: claims, guaranteed or proven efficacy, numeric weight loss. Phrases, not single words: "sweet
#: treats" and "heals" alone are not claims. A contract lifts one by listing the phrase it matched
#: in ``approvedClaims`` (the brand holds the evidence).
REGULATED_CLAIMS: Final = (
    rf"(?:{_CURE}|{_REMEDY})\s+{_CONDITION}",
    _spaced_words("miracle cure"),
    _spaced_words("guaranteed results"),
    _spaced_words("guaranteed weight loss"),
    _spaced_words("lose weight fast"),
    r"(?:clinically|scientifically|medically)\s+proven",
    _spaced_words("doctor recommended"),
    _spaced_words("fda approved"),
    _spaced_words("100% effective"),
    _spaced_words("no side effects"),
    _spaced_words("risk-free"),
    # "lose 5 kg in a week", "lose 10lbs in"
    r"lose\s+\d+(?:[.,]\d+)?\s*(?:kg|kgs|kilos?|lbs?|pounds|stone)\s+in",
)
#: Words that can read as a health claim on their own: a warning asks for a second look, never
#: a block ("a little miracle", "time heals" are fine). A contract can approve or forbid them.
CLAIM_WORDS: Final = ("cure", "cures", "cured", "heal", "heals", "healed", "miracle", "miraculous")

#: Quoted context either side of a matched claim.
_EXCERPT_CHARS: Final = 40

# --- the contract terms that set the rules ----------------------------------------------------

#: Contract terms that set a deliverable's review rules, camelCase as on the wire; ``contracts.terms``
#: keeps them snake_case (``required_handle``, ...) like every other term, and ``requirements``
#: reads either spelling.
RULE_TERMS: Final = ("requiredHandle", "requiredLinks", "approvedClaims", "forbiddenClaims")
#: Most entries one rule list takes: a contract's claims become one pattern every review scans
#: with, and a hundred phrases is already far past what a brief asks for.
MAX_RULE_ENTRIES: Final = 100
#: Longest claim phrase: a claim is matched as a phrase in a caption, never a paragraph.
MAX_CLAIM_CHARS: Final = 200
#: Longest required link: about what browsers and the platforms' link fields take.
MAX_LINK_CHARS: Final = 2_000
#: A handle as Instagram, TikTok and YouTube spell one: letters, digits, ".", "_" and "-", at most 30.
_HANDLE: Final = re.compile(r"@?([A-Za-z0-9_][A-Za-z0-9._-]{0,29})")
#: A URL or a bare domain, with an optional path, query or fragment and nothing blank in it.
#: Each host label ends at its own dot, so the match never backtracks between labels.
_LINK: Final = re.compile(
    r"(?:https?://)?(?:[^\W_][\w-]{0,62}\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})(?::\d{1,5})?(?:[/?#]\S*)?",
    re.IGNORECASE,
)


def read_rule_term(name: str, value: object, where: str) -> str | tuple[str, ...] | None:
    """The value of review-rule term ``name`` (one of ``RULE_TERMS``), normalised for storing.

    ``requiredHandle``: ``"@glossier"`` from ``"glossier"`` or ``"@glossier"``, None for none (the
    brand's own handle then applies). ``requiredLinks``: URLs or domains, paths allowed. The claims:
    phrases, their whitespace collapsed. Lists keep their order and lose duplicates; an empty list
    sets no rule. ``ValueError`` naming ``where`` (and each bad entry) and what it must be.
    """
    if name == "requiredHandle":
        if value is None:
            return None
        handle = _HANDLE.fullmatch(value.strip()) if isinstance(value, str) else None
        if handle is None:
            raise ValueError(
                f"{where} must be a handle like '@glossier' or 'glossier' (letters, digits, '.', '_' or "
                f"'-', at most 30), or null for none, got {value!r}"
            )
        return f"@{handle.group(1)}"
    what = "URLs or domains (like 'https://glossier.com/you')" if name == "requiredLinks" else "claims"
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of {what}, got {value!r}")
    if len(value) > MAX_RULE_ENTRIES:
        raise ValueError(f"{where} lists {len(value)} entries; at most {MAX_RULE_ENTRIES}")
    problems: list[str] = []
    kept: dict[str, str] = {}  # dedup key -> the entry as stored
    for index, item in enumerate(value):
        entry = " ".join(item.split()) if isinstance(item, str) else ""
        if not entry:
            problems.append(f"{where}[{index}] must be a non-empty string, got {item!r}")
        elif name == "requiredLinks":
            if len(entry) > MAX_LINK_CHARS or _LINK.fullmatch(entry) is None:
                problems.append(
                    f"{where}[{index}] {_short(entry)} is not a URL or a domain like 'glossier.com/you'"
                )
            else:
                kept.setdefault(entry, entry)
        elif len(entry) > MAX_CLAIM_CHARS:
            problems.append(
                f"{where}[{index}] is {len(entry):,} characters; a claim is at most {MAX_CLAIM_CHARS}"
            )
        else:
            kept.setdefault(_phrase(entry), entry)  # "Whitening" and "whitening" are one claim
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(kept.values())


def _short(text: str) -> str:
    """``text`` quoted, cut to a readable length for an error message."""
    return repr(text if len(text) <= 80 else f"{text[:77]}...")


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    detail: str


@dataclass(frozen=True, slots=True)
class Requirements:
    """What one piece of content is held to; ``basis`` says where each part came from."""

    platform: str | None
    handle: str | None = None
    links: tuple[str, ...] = ()
    #: The contract's own forbidden claims (normalised phrases): errors, whatever else it approves.
    forbidden_claims: tuple[str, ...] = ()
    #: Built-in claims and words the contract approves (normalised phrases): not reported.
    approved_claims: frozenset[str] = frozenset()
    basis: list[str] = field(default_factory=list)
    #: Problems with the terms themselves (a list that is not a list): reported, not fatal.
    term_findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ContentReview:
    verdict: Literal["approved", "changes_requested"]
    findings: list[Finding]
    platform: str
    limit: int
    chars: int

    def findings_json(self) -> list[dict[str, Any]]:
        return [asdict(finding) for finding in self.findings]


def requirements(
    *,
    platform: str | None,
    terms: Mapping[str, Any] | None,
    contract_label: str | None,
    brand_handle: str | None,
) -> Requirements:
    """Merge the contract's terms (camelCase or snake_case keys) with the brand and the built-in rules.

    ``terms``/``contract_label`` are None when the deal has no contract: the brand's handle
    and the built-in rules still apply, and ``basis`` says so.
    """
    basis: list[str] = []
    problems: list[Finding] = []

    def strings(*keys: str) -> list[str]:
        for key in keys:
            if terms is None or key not in terms:
                continue
            value = terms[key]
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                problems.append(
                    Finding(
                        "terms",
                        "warning",
                        f"{contract_label} term {key!r} is not a string or a list of strings; ignored",
                    )
                )
                return []
            return [item.strip() for item in items if item.strip()]
        return []

    if terms is None:
        basis.append("no contract for this deal: reviewed against the brand and the built-in rules")
    else:
        basis.append(f"reviewed against {contract_label}")

    from_contract = [h for h in (_bare_handle(h) for h in strings("requiredHandle", "required_handle")) if h]
    handle = from_contract[0] if from_contract else _bare_handle(brand_handle or "") or None
    if from_contract:
        basis.append(f"brand handle @{handle} from the contract")
    elif handle is not None:
        basis.append(f"brand handle @{handle} from the brand's Instagram handle")
    else:
        basis.append("no brand handle required: neither the contract nor the brand names one")

    links = tuple(dict.fromkeys(strings("requiredLinks", "required_links")))
    approved = frozenset(_phrase(c) for c in strings("approvedClaims", "approved_claims"))
    forbidden = tuple(dict.fromkeys(_phrase(c) for c in strings("forbiddenClaims", "forbidden_claims")))
    if forbidden:
        basis.append(f"claims the contract forbids: {', '.join(forbidden)}")
    if approved:
        basis.append(f"claims the contract approves: {', '.join(sorted(approved))}")
    return Requirements(
        platform=platform,
        handle=handle,
        links=links,
        forbidden_claims=forbidden,
        approved_claims=approved,
        basis=basis,
        term_findings=problems,
    )


def review(content: str, rules: Requirements) -> ContentReview:
    """Check ``content`` against ``rules``; any error finding means changes are requested."""
    # Line breaks and repeated spaces must not hide "paid  partnership" or a claim split over lines.
    flat = " ".join(content.split())
    platform, limit, limit_label, length_finding = _length_rule(rules.platform)
    findings: list[Finding] = list(rules.term_findings)
    if length_finding is not None:
        findings.append(length_finding)

    disclosure = _DISCLOSURE.search(flat)
    if disclosure is None:
        findings.append(
            Finding("disclosure", "error", 'no ad disclosure: add #ad, #sponsored or "paid partnership"')
        )
    elif disclosure.start() >= DISCLOSURE_VISIBLE_CHARS:
        findings.append(
            Finding(
                "disclosure",
                "warning",
                f"the disclosure {disclosure.group(0)!r} starts at character {disclosure.start() + 1}: "
                f"put it in the first {DISCLOSURE_VISIBLE_CHARS}, before the caption is cut",
            )
        )

    if rules.handle is not None:
        tag = re.compile(rf"(?<![\w@.])@{re.escape(rules.handle)}(?!\w|\.\w)", re.IGNORECASE)
        if tag.search(flat) is None:
            findings.append(Finding("brand_handle", "error", f"the brand handle @{rules.handle} is missing"))

    for link in rules.links:
        if _link_pattern(link).search(flat) is None:
            findings.append(Finding("required_link", "error", f"the required link {link} is missing"))

    findings += _claims(flat, rules)

    chars = len(content)
    if chars > limit:
        findings.append(
            Finding("length", "error", f"{chars:,} characters; {limit_label} takes at most {limit:,}")
        )
    blocked = any(finding.severity == "error" for finding in findings)
    return ContentReview(
        verdict="changes_requested" if blocked else "approved",
        findings=findings,
        platform=platform,
        limit=limit,
        chars=chars,
    )


def platform_key(platform: str | None) -> str | None:
    """``"instagram_story"`` -> ``"instagram"``, ``"YT"`` -> ``"youtube"``; None if it has no rule."""
    if not platform:
        return None
    first = re.split(r"[^a-z0-9]+", platform.strip().lower(), maxsplit=1)[0]
    key = _PLATFORM_ALIASES.get(first, first)
    return key if key in PLATFORM_LIMITS else None


def _length_rule(platform: str | None) -> tuple[str, int, str, Finding | None]:
    key = platform_key(platform)
    if key is not None:
        limit, label = PLATFORM_LIMITS[key]
        return key, limit, label, None
    named = repr(platform) if platform else "none"
    note = Finding(
        "length",
        "warning",
        f"platform {named} has no length rule: held to the longest post any platform takes "
        f"({FALLBACK_LIMIT:,} characters)",
    )
    return platform or "unknown", FALLBACK_LIMIT, "the longest platform post", note


_BUILT_IN_CLAIMS: Final = "|".join(REGULATED_CLAIMS)
_WORDS: Final = re.compile(r"(?<!\w)(?:" + "|".join(CLAIM_WORDS) + r")(?!\w)", re.IGNORECASE)


def _claims(flat: str, rules: Requirements) -> list[Finding]:
    """Errors for the contract's forbidden phrases and the built-in claims; warnings for claim words."""
    # The contract's phrases first and longest first: "whitening strips" is reported as itself.
    ordered = sorted(rules.forbidden_claims, key=len, reverse=True)
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join([*map(_spaced_words, ordered), _BUILT_IN_CLAIMS]) + r")(?!\w)",
        re.IGNORECASE,
    )
    first: dict[str, int] = {}
    starts: list[int] = []  # the reported matches, in order and not overlapping (finditer's)
    ends: list[int] = []
    for match in pattern.finditer(flat):
        phrase = _phrase(match.group(0))
        if phrase in rules.approved_claims and phrase not in rules.forbidden_claims:
            continue
        first.setdefault(phrase, match.start())
        starts.append(match.start())
        ends.append(match.end())
    findings = [
        Finding(
            "forbidden_claim",
            "error",
            f'the claim "{phrase}" is not allowed: {_excerpt(flat, start, start + len(phrase))}',
        )
        for phrase, start in sorted(first.items(), key=lambda item: item[1])
    ]

    words: dict[str, int] = {}
    for match in _WORDS.finditer(flat):
        word = match.group(0).lower()
        # Inside a claim already reported, or the contract's call either way: no second finding.
        if word in words or word in rules.approved_claims or word in rules.forbidden_claims:
            continue
        before = bisect_right(starts, match.start()) - 1
        if before >= 0 and match.start() < ends[before]:
            continue
        words[word] = match.start()
    findings += [
        Finding(
            "claim_wording",
            "warning",
            f'"{word}" can read as a health or efficacy claim; keep it only if it is not one: '
            f"{_excerpt(flat, start, start + len(word))}",
        )
        for word, start in sorted(words.items(), key=lambda item: item[1])
    ]
    return findings


def _excerpt(flat: str, start: int, end: int) -> str:
    left = max(0, start - _EXCERPT_CHARS)
    right = min(len(flat), end + _EXCERPT_CHARS)
    return f"{'…' if left else ''}{flat[left:right]}{'…' if right < len(flat) else ''}"


def _link_pattern(link: str) -> re.Pattern[str]:
    # "https://www.glossier.com/you/" is present as "glossier.com/you", with or without the
    # scheme, "www." or a trailing slash, and with query parameters after it; not as "/youth".
    bare = re.sub(r"^(?:https?://)?(?:www\.)?", "", link.strip(), flags=re.IGNORECASE).rstrip("/")
    return re.compile(rf"(?<![\w.-])(?:https?://)?(?:www\.)?{re.escape(bare)}(?![\w-])", re.IGNORECASE)


def _phrase(text: str) -> str:
    return " ".join(text.lower().split())


def _bare_handle(handle: str) -> str:
    return handle.strip().lstrip("@").strip()
