"""Offer extraction: money in every notation, the fee the agency means, deliverables, brand and talent;
measured on the development part of the labelled corpus (the test part is measured apart, once)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from talentq.domain.mail.amounts import find_amounts, parse_number, to_minor
from talentq.domain.mail.extract import extract_deal
from talentq.domain.mail.terms import Deliverable, Fee
from talentq.integrations.ai.evaluate import evaluate, read_labelled, render, same_brand
from talentq.integrations.ai.rules import RulesProvider

CORPUS = Path(__file__).parents[1] / "data" / "corpus"


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("2.500 €", "2500", "EUR"),
        ("€3.000,00", "3000.00", "EUR"),
        ("1 200,50 €", "1200.50", "EUR"),
        ("CHF 1'500.\u2013", "1500", "CHF"),
        ("$2,500.00", "2500.00", "USD"),
        ("$2.5k", "2500", "USD"),
        ("£1,200", "1200", "GBP"),
        ("¥300,000", "300000", "JPY"),
        ("3.000 Euro", "3000", "EUR"),
        ("2500 dollars", "2500", "USD"),
        ("R$ 8.000,00", "8000.00", "BRL"),
        ("3 500 $ CA", "3500", "CAD"),
        ("25 000 SEK", "25000", "SEK"),
        ("COP 3.800.000", "3800000", "COP"),
    ],
)
def test_amounts_are_read_in_every_notation(text: str, value: str, currency: str) -> None:
    (amount,) = find_amounts(f"the fee is {text} net")
    assert (amount.value, amount.currency) == (Decimal(value), currency)


def test_numbers_without_currency_and_ranges() -> None:
    assert parse_number("12.50") == Decimal("12.50")
    assert parse_number("1.500") == Decimal("1500")
    (joined,) = find_amounts("between €2,000 and €3,000")
    assert (joined.value, joined.high, joined.currency) == (Decimal(2000), Decimal(3000), "EUR")
    (short,) = find_amounts("budget 2\u20133k EUR")
    assert (short.value, short.high) == (Decimal(2000), Decimal(3000))
    assert to_minor(Decimal(350000), "JPY") == 350000
    assert to_minor(Decimal("1200.50"), "EUR") == 120050


@pytest.mark.parametrize(
    ("body", "fee"),
    [
        ("We can offer $800 per post, 3 Instagram posts.", Fee("exact", "USD", minor=240000)),
        ("We can't do 5.500 €, but we can go to 4.500 € for 1 Reel.", Fee("exact", "EUR", minor=450000)),
        ("Her rate card says £2,000 per Reel. We have £1,500 for 1 Reel.", Fee("exact", "GBP", minor=150000)),
        (
            "Last year we paid 1.500 €; this year we offer 1.800 € for 1 TikTok.",
            Fee("exact", "EUR", minor=180000),
        ),
        (
            "Budget between €2,000 and €3,000 for 1 YouTube video.",
            Fee("range", "EUR", min_minor=200000, max_minor=300000),
        ),
        (
            "Commission only: 20% per sale, top creators earn up to $5,000.",
            Fee("none", why="commission_only"),
        ),
        ("We'd love to gift you our kit, no payment involved, 1 story.", Fee("none", why="gifted")),
        ("Our budget is 2.500 for 1 Reel and 2 stories.", Fee("unstated")),
        ("Could you share her rates for 2 Reels?", Fee("unstated")),
        ("Il compenso è di 650 € per ciascun Reel: 4 Reel su Instagram.", Fee("exact", "EUR", minor=260000)),
        ("Wir bieten 3 Reels à 800 € an.", Fee("exact", "EUR", minor=240000)),
        ("We'd send the serum (retail $89) and pay $1,000 for 1 Reel.", Fee("exact", "USD", minor=100000)),
        # the code after a bare "$" says whose dollar, across a range too
        (
            "Presupuesto de entre $25,000 y $35,000 MXN para 1 video de YouTube.",
            Fee("range", "MXN", min_minor=2500000, max_minor=3500000),
        ),
        # "por todo" is the total, not a price per "todo"
        ("Pagamos US$ 2.000 por todo: 2 TikToks y 1 YouTube Short.", Fee("exact", "USD", minor=200000)),
        (
            "Fee: USD 12K for the full term, paid in monthly instalments of $2,000. 1 TikTok per month.",
            Fee("exact", "USD", minor=1200000),
        ),
        ("No hay honorarios fijos: 10 % de comisión por venta. 1 Reel.", Fee("none", why="commission_only")),
        (
            "Un petit cadeau : notre coffret, sans aucune contrepartie. Une story si vous aimez.",
            Fee("none", why="gifted"),
        ),
        (
            "We'd send the bike (retail $2,400) to keep. We don't have a cash budget for this one. 1 video.",
            Fee("none", why="product_only"),
        ),
        ("C'est un cadeau, sans aucune obligation de publication.", Fee("none", why="gifted")),
        (
            "We sturen je een koptelefoon in ruil voor 1 TikTok. Geen geld, alleen het product.",
            Fee("none", why="product_only"),
        ),
        (
            "Por cada venta cobra un 12 % de comisión (no hay fijo). 3 historias.",
            Fee("none", why="commission_only"),
        ),
        (
            "Nous avons noté la contre-proposition de Camille à 3 000 €. Nous pouvons monter à 2 600 € HT "
            "pour 1 Reel Instagram et 3 stories.",
            Fee("exact", "EUR", minor=260000),
        ),
        # a sentence that opens with "each" is no unit price unless one clause runs to the price
        (
            "We'd like 3 TikToks. Each TikTok should be short, we offer $2,000.",
            Fee("exact", "USD", minor=200000),
        ),
        # the unit opens the sentence that the price closes
        (
            "Wir würden gern 3 YouTube-Videos umsetzen. Pro Video bieten wir 1.200 €.",
            Fee("exact", "EUR", minor=360000),
        ),
        (
            "I see his rate card lists $3,000 for a dedicated YouTube video and $1,200 for a Short. "
            "We'd like to offer $2,200 for one dedicated YouTube video.",
            Fee("exact", "USD", minor=220000),
        ),
    ],
)
def test_the_fee_is_what_the_brand_offers_now(body: str, fee: Fee) -> None:
    got = extract_deal("Offer", body).fee
    assert (got.kind, got.currency, got.minor, got.min_minor, got.max_minor, got.why) == (
        fee.kind, fee.currency, fee.minor, fee.min_minor, fee.max_minor, fee.why,
    )  # fmt: skip


def test_the_current_text_wins_over_the_quoted_thread() -> None:
    body = (
        "Hi Leo,\nWe can increase our offer to $4,500 for the same package (1 YouTube video).\nRachel\n\n"
        "On Mon, 2 Mar 2026 at 16:40, Leo <leo@northstar.com> wrote:\n> Sam's rate would be $6,000.\n"
        "> We'd like to offer Sam $3,500 for 1 YouTube video."
    )
    terms = extract_deal("Re: offer", body)
    assert (terms.fee.minor, terms.fee.currency) == (450000, "USD")
    assert any("fee" in reason for reason in terms.reasons)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Deliverables: 1x Instagram Reel, 3x IG Stories",
            {("instagram_reel", 1, False), ("instagram_story", 3, False)},
        ),
        ("2 posts on X and 1 LinkedIn post", {("x_post", 2, False), ("linkedin_post", 1, False)}),
        ("zwei Reels und drei Stories", {("instagram_reel", 2, False), ("instagram_story", 3, False)}),
        ("une vidéo YouTube et deux publications sur X", {("youtube_video", 1, False), ("x_post", 2, False)}),
        ("dos publicaciones en Instagram", {("instagram_post", 2, False)}),
        ("un post su Instagram", {("instagram_post", 1, False)}),
        ("2 stories a month for 3 months", {("instagram_story", 6, False)}),
        ("host-read ads in 3 episodes", {("podcast", 3, False)}),
        (
            "3 TikToks.\nOptional: 1 Pinterest pin if she likes",
            {("tiktok", 3, False), ("pinterest_pin", 1, True)},
        ),
        (
            "2 Twitch streams; 1 Threads post (nice to have)",
            {("twitch_stream", 2, False), ("threads_post", 1, True)},
        ),
        (
            "Instagram Reel 2x Juni\nTikTok (optional) 1x Juli",
            {("instagram_reel", 2, False), ("tiktok", 1, True)},
        ),
        (
            "1 article sur son blog et 5 épingles Pinterest",
            {("blog_post", 1, False), ("pinterest_pin", 5, False)},
        ),
        (
            "un article de blog et 2 épingles Pinterest",
            {("blog_post", 1, False), ("pinterest_pin", 2, False)},
        ),
        ("pour une vidéo TikTok et un post LinkedIn", {("tiktok", 1, False), ("linkedin_post", 1, False)}),
        # "une publication fin avril" is publishing, not a post
        ("1 Reel Instagram, pour une publication fin avril", {("instagram_reel", 1, False)}),
        ("in one of your YouTube videos as an integration", {("youtube_video", 1, False)}),
        (
            "Wir bieten 1 Reel. Eine zusätzliche Story wäre schön, ist aber optional.",
            {
                ("instagram_reel", 1, False),
                ("instagram_story", 1, True),
            },
        ),
        ("a 2-hour Twitch stream and 2 TikToks", {("twitch_stream", 1, False), ("tiktok", 2, False)}),
        ("Ok per 1.600 €, Reel + 2 storie.", {("instagram_reel", 1, False), ("instagram_story", 2, False)}),
        (
            "3-month ambassadorship.\n\nPer month:\n- 1 Instagram Reel\n- 2 Instagram Stories",
            {("instagram_reel", 3, False), ("instagram_story", 6, False)},
        ),
        (
            "Term: 6 months.\n- 1 TikTok per month\n- 1 Instagram Reel every three months",
            {("tiktok", 6, False), ("instagram_reel", 2, False)},
        ),
        (
            "Instagram Stories with link sticker 3x\nTwitch-Stream (2 Std.) im Titan Pro 1x",
            {("instagram_story", 3, False), ("twitch_stream", 1, False)},
        ),
        (
            "si le apetece enseñarla en una story, ¡nos haría ilusión! Totalmente opcional.",
            {("instagram_story", 1, True)},
        ),
        # months of usage rights are not the campaign's months
        (
            "3 TikTok, uno por semana. Derechos de uso orgánicos, 6 meses.",
            {("tiktok", 3, False)},
        ),
        ("1 TikTok a la semana durante 4 semanas, con recetas.", {("tiktok", 4, False)}),
        ("Include a 60-90 second integration in your next video.", {("youtube_video", 1, False)}),
        ("In exchange for one honest YouTube review video.", {("youtube_video", 1, False)}),
        # a range of minutes says nothing of what the episode is
        ("A 10-14 minute episode: 1 dedicated YouTube video.", {("youtube_video", 1, False)}),
        # items a quoted rate card prices are not asked
        (
            "I see his rate card lists $3,000 for a dedicated YouTube video and $1,200 for a Short. "
            "We'd like to offer $2,200 for one dedicated YouTube video.",
            {("youtube_video", 1, False)},
        ),
        (
            "Il suo listino indica 2.000 € per un Reel e 600 € per una storia. Possiamo offrire 1.500 € per "
            "un Reel Instagram.",
            {("instagram_reel", 1, False)},
        ),
        # the rate card's own clause only: what follows "but" is asked
        ("We can't meet her fee, but we can offer $1,500 for a Reel.", {("instagram_reel", 1, False)}),
        ("Her rate card is above our budget, so we offer $1,500 for a Reel.", {("instagram_reel", 1, False)}),
        # an episode is a podcast's only where the mail is about one
        (
            "Be the partner in one episode of her YouTube series. Deliverables: 1 YouTube video.",
            {("youtube_video", 1, False)},
        ),
        ("We'd sponsor two episodes: a host-read ad in each, $1,500 per episode.", {("podcast", 2, False)}),
        (
            "Wir haben viel von dir gehört. Wir wünschen uns eine Folge deiner YouTube-Serie: "
            "1 YouTube-Video.",
            {("youtube_video", 1, False)},
        ),
    ],
)
def test_deliverables_are_read_with_counts(body: str, expected: set[tuple[str, int, bool]]) -> None:
    got = extract_deal("Offer", body).deliverables
    assert {(d.platform, d.count, d.optional) for d in got} == expected


def test_brand_is_the_advertiser_not_its_agency() -> None:
    terms = extract_deal(
        "Partnership for Liam Carter",
        "Hi Sarah,\nI'm reaching out from Meridian PR on behalf of our client Solace Sleep, the mattress "
        "brand. "
        "Solace would like to partner with Liam Carter: 1 Instagram Reel. Fee: $5,000 total.\nAmy Walsh",
        sender="Amy Walsh <amy.walsh@meridianpr.com>",
    )
    assert terms.brand == "Solace Sleep"
    assert terms.talent == "Liam Carter"
    assert any("agency" in reason for reason in terms.reasons)


def test_the_signature_a_delimiter_sets_apart_names_the_brand_and_no_terms() -> None:
    terms = extract_deal(
        "hello from a tiny kombucha brand",
        "Hi there! We can't pay fees yet, but we'd send a case of kombucha for 1 Reel.\n\nIris\n\n"
        "--\nIris Navarro\nfounder, Kombu & Co.\nkombuandco.es · Tel. +34 611 204 377\n\n"
        "This message and any attachments are confidential. Kombu & Co. S.L., capital 3.000 €.",
        sender="Iris Navarro <iris.navarro.kombu@gmail.com>",
    )
    assert terms.brand == "Kombu & Co"
    assert terms.fee.kind != "exact"  # neither the phone number nor the footer's capital is a fee


def test_brand_and_talent_from_a_brand_writing_itself() -> None:
    terms = extract_deal(
        "Kooperationsanfrage \u2013 Bergquelle x Lena Hoffmann",
        "Hallo,\nich bin Katharina von Bergquelle Naturkosmetik aus München und würde gerne mit "
        "Lena Hoffmann "
        "zusammenarbeiten: 2x Instagram Reels. Budget 2.500 € netto.\nKatharina Seidl",
        sender="Katharina Seidl <k.seidl@bergquelle-kosmetik.de>",
    )
    # Either form names the brand: the mail says "Bergquelle Naturkosmetik", the subject "Bergquelle".
    assert terms.brand is not None
    assert same_brand(terms.brand, "Bergquelle Naturkosmetik")
    assert terms.brand.startswith("Bergquelle")
    assert terms.talent == "Lena Hoffmann"
    assert terms.deliverables == [Deliverable("instagram_reel", 2)]


@pytest.mark.parametrize(
    ("sender", "body", "brand"),
    [
        (
            "Ana Ruiz <ana@brisacomunicacion.es>",
            "Hola Marta,\nte escribo en nombre de nuestro cliente Olivar del Sur: 2 Reels por 1.500 €.\n"
            "Ana Ruiz\nBrisa Comunicación",
            "Olivar del Sur",
        ),
        (
            "Paola Conti <paola@agenziaventi.it>",
            "Ciao Giulia,\nti scrivo a nome del nostro cliente Dolciaria Fiorentini: un Reel, 900 €.\nPaola",
            "Dolciaria Fiorentini",
        ),
        (
            "Claire Dubois <claire@agence-ciel.fr>",
            "Bonjour,\nje vous contacte pour le compte de notre cliente Maison Verlaine : 1 vidéo YouTube.\n"
            "Claire\nAgence Ciel",
            "Maison Verlaine",
        ),
        (
            "Tim Berger <tim@wolke-agentur.de>",
            "Hallo Kim,\nim Namen unserer Kundin Kaffeerösterei Brandt fragen wir Luisa an: 2 Reels.\nTim",
            "Kaffeerösterei Brandt",
        ),
    ],
)
def test_an_agency_writes_for_its_client_in_every_language(sender: str, body: str, brand: str) -> None:
    assert extract_deal("Kooperation", body, sender=sender).brand == brand


@pytest.mark.parametrize(
    ("sender", "body", "brand"),
    [
        # The domain is the brand's name written together; the mail spells the part it uses.
        (
            "Lea Park <lea@brightgrovefoods.com>",
            "We're planning a push for our Brightgrove oat bars. Rates for 2 TikToks?\nLea",
            "Brightgrove Foods",
        ),
        (
            "Nina Hart <nina@cloudhopperkids.com>",
            "We would like to offer $900 for 1 Reel.\nNina",
            "Cloudhopper Kids",
        ),
        # The domain names the parent group; the brand is the one the mail introduces.
        (
            "Marco Riva <m.riva@riva-group.it>",
            "Ciao,\nsiamo Pastificio Riva e vorremmo 1 Reel.\nMarco\nPastificio Riva | Riva Group S.p.A.",
            "Pastificio Riva",
        ),
        (
            "Sam Lee <sam@lumosaudio.com>",
            "Hi Jo,\nThe Lumos team would love 1 YouTube video with Nia.\nSam",
            "Lumos",
        ),
    ],
)
def test_brand_read_with_the_senders_domain(sender: str, body: str, brand: str) -> None:
    """The brand, in its short or long form ("Lumos" or "Lumos Audio"), as ``talentq ai eval`` scores it:
    which of the two a retrained ranker prefers is the labels' convention, not this test's point."""
    assert same_brand(extract_deal("Rates?", body, sender=sender).brand, brand)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Wir können 3.200 € für das YouTube-Video plus 2 YouTube Shorts anbieten.",
            {("youtube_video", 1, False), ("youtube_short", 2, False)},
        ),
        (
            "Nos gustaría el Reel de Instagram y dos historias.",
            {("instagram_reel", 1, False), ("instagram_story", 2, False)},
        ),
        ("We loved the Reel Ella did last spring! This time: 2 TikToks.", {("tiktok", 2, False)}),
        (
            "To recap: 2 TikToks and 1 Story. In total: 2 TikToks, 1 Story.",
            {("tiktok", 2, False), ("instagram_story", 1, False)},
        ),
        (
            "1 Reel, plus une story si elle le souhaite (optionnel).",
            {("instagram_reel", 1, False), ("instagram_story", 1, True)},
        ),
        ("1 Reel and optionally a Story", {("instagram_reel", 1, False), ("instagram_story", 1, True)}),
        ("Optional: a Reel and a story", {("instagram_reel", 1, True), ("instagram_story", 1, True)}),
        (
            "Nous pouvons monter à 3 200 € pour la vidéo YouTube et le Short.",
            {("youtube_video", 1, False), ("youtube_short", 1, False)},
        ),
    ],
)
def test_items_named_without_a_count(body: str, expected: set[tuple[str, int, bool]]) -> None:
    got = extract_deal("Offer", body).deliverables
    assert {(d.platform, d.count, d.optional) for d in got} == expected


def test_hostile_input_is_read_in_bounded_time() -> None:
    for body in (
        "9" * 1_000_000 + " USD",
        "word " * 200_000,
        "1," * 500_000,
        "Anna Berg €2.500 2 Reels. " * 40_000,
    ):
        started = time.perf_counter()
        extract_deal("hi", body, sender="x <a@b.com>")
        assert time.perf_counter() - started < 2.0


async def test_accuracy_on_the_development_part_of_the_corpus() -> None:
    """Floors a little under what ``talentq ai eval --part dev`` measures (608 offers, 505 of them from
    the thirteen later batches); the test part is measured apart, and reported. Talent is lower since
    the last four batches, whose writers labelled the creator as the mail calls them ("Ana", a
    channel's name) where the engine answers the full name."""
    dev = await evaluate(RulesProvider(), read_labelled(CORPUS, "dev"), name="rules engine")
    print("\n" + render(dev))
    assert dev.offers == 608
    assert dev.fee_exact is not None
    assert dev.fee_exact >= 0.99
    assert dev.deliverables_exact is not None
    assert dev.deliverables_exact >= 0.97
    assert dev.brand_named is not None
    assert dev.brand_named >= 0.97
    assert dev.brand_exact is not None
    assert dev.brand_exact >= 0.92
    assert dev.talent_exact is not None
    assert dev.talent_exact >= 0.86


@pytest.mark.parametrize(
    ("body", "fee"),
    [
        # a restating "so" points forward: the total, not the weekly price before it
        ("We'd pay £500 per week, so £2,000 for the month. Kits arrive every Monday.",
         Fee("exact", "GBP", minor=200000)),
        # a total labelled with a colon, after itemised prices
        ("- 4 stories at 300 € each (1.200 €)\n- 1 Reel, 900 €\n- Total: 2.100 € + VAT",
         Fee("exact", "EUR", minor=210000)),
        # the brand's fee for a creator is its offer, not the creator's rate
        ("Brisk's fee for Nadia is €4,000 all in, travel on top.", Fee("exact", "EUR", minor=400000)),
        # Dutch: the amount "in plaats van" and the one "jullie vroegen" are not the offer
        ("Vergoeding: € 1.900 voor het totaal (in plaats van de € 1.500 uit ons eerste voorstel; "
         "jullie vroegen € 2.400).", Fee("exact", "EUR", minor=190000)),
        # a product's price ("kostet") is no fee; no budget for paid work is product only
        ("Ein Budget für bezahlte Kooperationen haben wir noch nicht. Wir schicken eine Lampe (sie kostet "
         "149 €), dafür wünschen wir uns 2 Instagram Stories.", Fee("none", why="product_only")),
        # "no feed" is Portuguese for "in the feed", not "no fee"
        ("1 publicação no feed e 1 Reel. O valor é de 800 €.", Fee("exact", "EUR", minor=80000)),
        # nothing asked in return: a gift
        ("We'd love to send you a box of our new teas. No strings, no post required.",
         Fee("none", why="gifted")),
        # "te pagamos" is what the brand pays now
        ("Te pagamos 450 € por 1 reel de Instagram.", Fee("exact", "EUR", minor=45000)),
        # later batches (quay, barn, reef, kiln, moss, vale)
        # a negotiation: the figure raised from and the agency's ask beside the figure offered now
        ("We can go up from €1,800 to €2,300; the €3,000 you quoted is out of reach.",
         Fee("exact", "EUR", minor=230000)),
        ("Die 4.000 €, die du vorgeschlagen hast, gehen leider nicht. Wir bieten jetzt 3.200 €.",
         Fee("exact", "EUR", minor=320000)),
        ("Possiamo alzare la proposta da 1.200 € a 1.600 € + IVA.", Fee("exact", "EUR", minor=160000)),
        ("Podemos subir de los 900 € iniciales a 1.300 €.", Fee("exact", "EUR", minor=130000)),
        # last campaign's price, said of the brand by someone else
        ("For reference they paid £900 for one video last spring. Now: £2,000 for the two videos.",
         Fee("exact", "GBP", minor=200000)),
        # a labelled total after a colon, and a voucher beside it
        ("Compenso complessivo: 2.800,00 € + IVA, più un buono da 200 € per lo shop.",
         Fee("exact", "EUR", minor=280000)),
        # a price per video for TikToks, counted across the weeks asked
        ("1 TikTok a week for 5 weeks. We pay $300 per video.", Fee("exact", "USD", minor=150000)),
        # pesos named after a bare "$"
        ("Pagamos $18,000 pesos mexicanos por 2 TikToks.", Fee("exact", "MXN", minor=1800000)),
        # instalments and a share capital in the footer are no fee
        ("Vergoeding: € 3.000 voor de hele periode, in drie termijnen van € 1.000.\n\n"
         "Cap. Soc. € 50.000,00 i.v.",
         Fee("exact", "EUR", minor=300000)),
        # a price per piece of content, per ad read, or per TikTok over named months
        ("- 2 Reel Instagram\n- 1 post carosello Instagram\n\nIl compenso è di 1.000 € a contenuto.",
         Fee("exact", "EUR", minor=300000)),
        ("- 3 host-read mid-rolls, one per episode\n- Rate: €600 per read",
         Fee("exact", "EUR", minor=180000)),
        ("- 2 TikToks a month for January, February and March\n- €400 per TikTok",
         Fee("exact", "EUR", minor=240000)),
        # an offer above a rate is still the offer; a brand's fee for the package is its offer
        ("For that we can offer €4,000, which is above the integration rate.",
         Fee("exact", "EUR", minor=400000)),
        ("Keld's fee for the package is €5,500 excl. VAT.", Fee("exact", "EUR", minor=550000)),
        # no cash: commission only, or a hosted stay
        ("Een vaste vergoeding is er in dit programma niet; je krijgt 12% op elke verkoop.",
         Fee("none", why="commission_only")),
        ("This would be a hosted stay; we don't work with paid fees. 1 Reel in return.",
         Fee("none", why="gifted")),
    ],
)  # fmt: skip
def test_the_fee_in_later_batches_of_unseen_mail(body: str, fee: Fee) -> None:
    got = extract_deal("Offer", body).fee
    assert (got.kind, got.currency, got.minor, got.why) == (fee.kind, fee.currency, fee.minor, fee.why)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("- 3 X posts on launch day\n- 1 Twitch stream", {("x_post", 3, False), ("twitch_stream", 1, False)}),
        ("3x IG Reels and 2 x TikTok", {("instagram_reel", 3, False), ("tiktok", 2, False)}),
        ("1 gesponserter Twitch-Stream und 1 Ankündigungs-Post auf X",
         {("twitch_stream", 1, False), ("x_post", 1, False)}),
        ("Pour le Reel Instagram et le carrousel, 1 500 €.",
         {("instagram_reel", 1, False), ("instagram_post", 1, False)}),
        ("1 publicação no feed e 1 Reel.", {("instagram_post", 1, False), ("instagram_reel", 1, False)}),
        ("One dedicated YouTube review (10 minutes).", {("youtube_video", 1, False)}),
        # a heading that says both the period and how many of them
        ("What we need, each week for 3 weeks:\n- 1 Instagram post\n- 2 Instagram Stories\n\nThanks",
         {("instagram_post", 3, False), ("instagram_story", 6, False)}),
        # "(one a week)" spreads the count; it does not multiply it
        ("- 3 Reels no Instagram (um por semana)\n- 2 stories por semana durante 3 semanas",
         {("instagram_reel", 3, False), ("instagram_story", 6, False)}),
        # an earlier version's count is no ask
        ("- 1 storia a settimana per 4 settimane (prima erano 6 storie tutte insieme)",
         {("instagram_story", 4, False)}),
        # "the reel" again refers to the optional one already counted
        ("- 2 TikToks\n- 1 reel de Instagram, opcional\nEl presupuesto depende de si se incluye el reel.",
         {("tiktok", 2, False), ("instagram_reel", 1, True)}),
        # one period leads both items it lists
        ("pro Monat ein Instagram-Beitrag und drei Instagram-Stories, Laufzeit 2 Monate",
         {("instagram_post", 2, False), ("instagram_story", 6, False)}),
        # later batches (quay, barn, reef, kiln, moss, vale)
        ("- 1 live Twitch le samedi\n- 2 posts sur X", {("twitch_stream", 1, False), ("x_post", 2, False)}),
        ("- 2 lives na Twitch", {("twitch_stream", 2, False)}),
        ("3 host-read mid-rolls in the show", {("podcast", 3, False)}),
        ("1. YouTube video 1\n2. YouTube Shorts 2",
         {("youtube_video", 1, False), ("youtube_short", 2, False)}),
        ("- 2 Shorts\n- 1 publicação no LinkedIn\n\nPagamento após a publicação.",
         {("youtube_short", 2, False), ("linkedin_post", 1, False)}),
        # what the brand declines is no ask
        ("We can't do four Reels at $900 each; what we can do is 2 Instagram Reels for $1,600.",
         {("instagram_reel", 2, False)}),
        # ... unless a "but" turns to what is asked
        ("No podemos pagar, pero nos encantaría 1 reel de Instagram.", {("instagram_reel", 1, False)}),
        # periods: "for the first 4 weeks", "during the 3 campaign weeks"
        ("2 Instagram Stories per week for the first 4 weeks", {("instagram_story", 8, False)}),
        ("2 Instagram stories per week during the 3 campaign weeks", {("instagram_story", 6, False)}),
        # optional in brackets, or "if possible"
        ("- 1 reel Instagram\n- et, si possible, une vidéo YouTube (facultatif)\n",
         {("instagram_reel", 1, False), ("youtube_video", 1, True)}),
    ],
)  # fmt: skip
def test_deliverables_in_later_batches_of_unseen_mail(
    body: str, expected: set[tuple[str, int, bool]]
) -> None:
    got = extract_deal("Offer", body).deliverables
    assert {(d.platform, d.count, d.optional) for d in got} == expected


def test_a_forwarded_offer_is_read_from_the_forwarded_mail() -> None:
    body = (
        "Hi Tom, this came in through the contact form. Shall I answer?\nPia\n\n"
        "---------- Forwarded message ---------\n"
        "From: Lars Menzel <lars@kernwald-energy.de>\n"
        "Date: Wed, 5 Mar 2025 at 09:31\n"
        "Subject: Kernwald x Jonas \u2013 Twitch\n"
        "To: <team@ourtalent.eu>\n\n"
        "Hi all,\nI'm Lars from Kernwald Energy. We'd like 2 Twitch streams with Jonas, "
        "\u20ac1,200 per stream.\nLars\n"
    )
    terms = extract_deal("Fwd: Kernwald x Jonas \u2013 Twitch", body, sender="Pia Roth <pia@ourtalent.eu>")
    assert terms.brand is not None
    assert same_brand(terms.brand, "Kernwald Energy")
    assert terms.fee.minor == 240000
    assert terms.deliverables == [Deliverable("twitch_stream", 2)]


@pytest.mark.parametrize(
    ("sender", "subject", "body", "brand"),
    [
        # a producer brought in by the brand
        ("Callum Reid <callum@reidfilms.co>", "A hiking series",
         "I'm a freelance producer. I've been brought in by Tallow Outdoor to produce their series; "
         "the payment comes from Tallow Outdoor. 1 YouTube video, \u20ac5,000.", "Tallow Outdoor"),
        # a media agency that works for its client
        ("Alba Ruiz <alba@medianorte.es>", "Propuesta para Nico",
         "Soy Alba, de Media Norte. Trabajamos para Trenes Albor, que estrena una ruta nocturna. "
         "1 Reel de Instagram, 1.200 \u20ac.", "Trenes Albor"),
        # a distributor writing for the brand it sells
        ("Federica Riva <f.riva@distribuzionimonte.it>", "Proposta collaborazione",
         "Siamo il distributore ufficiale di Brookfell in Italia e vorremmo 1 Reel per 700 \u20ac.",
         "Brookfell"),
    ],
)  # fmt: skip
def test_brand_when_someone_else_writes_for_it(sender: str, subject: str, body: str, brand: str) -> None:
    got = extract_deal(subject, body, sender=sender).brand
    assert got is not None
    assert same_brand(got, brand), got
