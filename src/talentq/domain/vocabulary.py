"""The platform's vocabulary, each defined once: content platforms and their labels, message
categories, deal stages, and content lines (what a deal asks: N units on a platform)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, get_args


class MessageCategory(StrEnum):
    """What an inbox message is about: the six categories triage sorts mail into."""

    DEAL_OFFER = "deal_offer"
    INVOICE = "invoice"
    SCHEDULING = "scheduling"
    DELIVERABLE = "deliverable"
    SPAM = "spam"
    OTHER = "other"


#: The categories in their order, as plain strings.
CATEGORIES: Final = tuple(category.value for category in MessageCategory)


class DealStage(StrEnum):
    """Where a deal stands; ``draft`` is what the seed called a dealDraft."""

    DRAFT = "draft"
    NEGOTIATING = "negotiating"
    CONTRACTED = "contracted"
    DELIVERED = "delivered"
    LOST = "lost"


# --- content platforms ------------------------------------------------------------------------

#: A content platform (a kind of content), as deals, contracts and extraction name it.
Platform = Literal[
    "tiktok", "instagram_post", "instagram_reel", "instagram_story", "youtube_video",
    "youtube_short", "twitch_stream", "blog_post", "podcast", "x_post", "threads_post",
    "pinterest_pin", "linkedin_post",
]  # fmt: skip
#: The content platforms in their order.
PLATFORMS: Final[tuple[str, ...]] = get_args(Platform)
#: (singular, plural): written so that deal-extraction's rules read them back ("2 TikToks").
_LABELS: Final = {
    "tiktok": ("TikTok", "TikToks"),
    "instagram_post": ("Instagram post", "Instagram posts"),
    "instagram_reel": ("Instagram reel", "Instagram reels"),
    "instagram_story": ("Instagram story", "Instagram stories"),
    "youtube_video": ("YouTube video", "YouTube videos"),
    "youtube_short": ("YouTube Short", "YouTube Shorts"),
    "twitch_stream": ("Twitch stream", "Twitch streams"),
    "blog_post": ("blog post", "blog posts"),
    "podcast": ("podcast spot", "podcast spots"),
    "x_post": ("post on X", "posts on X"),
    "threads_post": ("Threads post", "Threads posts"),
    "pinterest_pin": ("Pinterest pin", "Pinterest pins"),
    "linkedin_post": ("LinkedIn post", "LinkedIn posts"),
}
#: Most units of one platform a deal may ask for; more is a typo or a different kind of deal.
MAX_UNITS: Final = 50


@dataclass(frozen=True)
class ContentLine:
    """``count`` units of content on ``platform`` ("2 TikToks")."""

    platform: str
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"platform": self.platform, "count": self.count}


def parse_content(
    raw: object, *, field_name: str = "deliverables"
) -> tuple[tuple[ContentLine, ...], list[str]]:
    """Deliverables as ``[{"platform": "tiktok", "count": 2}]`` -> content lines, and every problem found.

    Lines of one platform are merged, keeping the order of first appearance.
    """
    if not isinstance(raw, list) or not raw:
        return (), [f"{field_name} must be a non-empty list of {{platform, count}}, got {raw!r}"]
    problems: list[str] = []
    counts: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = f"{field_name}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object with platform and count, got {item!r}")
            continue
        platform, count = item.get("platform"), item.get("count")
        if platform not in PLATFORMS:
            close = difflib.get_close_matches(str(platform), PLATFORMS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; one of {', '.join(PLATFORMS)}"
            problems.append(f"{where}.platform {platform!r} is not a platform{hint}")
        # bool is an int to Python, not a count to anyone.
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_UNITS:
            problems.append(f"{where}.count must be an integer from 1 to {MAX_UNITS}, got {count!r}")
        if isinstance(platform, str) and platform in PLATFORMS and isinstance(count, int):
            counts[platform] = counts.get(platform, 0) + count
    if problems:
        return (), problems
    return tuple(ContentLine(p, n) for p, n in counts.items()), []


def describe_content(content: Sequence[ContentLine]) -> str:
    """ "2 TikToks and 1 Instagram story"."""
    parts = [f"{line.count} {platform_label(line.platform, line.count)}" for line in content]
    if len(parts) <= 1:
        return "".join(parts) or "no content"
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def platform_label(platform: str, count: int = 1) -> str:
    """A platform's label: "TikTok", or "TikToks" for a count other than 1; an unknown one as named."""
    return _LABELS.get(platform, (platform, platform))[0 if count == 1 else 1]
