"""The brand ranker: candidates read from the mail, the shipped weights, and their training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talentq.dev import train_brand_ranker
from talentq.domain.mail.brands import Candidate, brand_candidates, brand_core, brand_model, find_brand

ROOT = Path(__file__).parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"

AGENCY_MAIL = (
    "Media x Lina - spring launch",
    "Hi Jonas,\n\nI'm writing on behalf of our client Velora Skincare, who would love 1 Instagram Reel with "
    "Lina for their spring launch. Budget is €2,000.\n\nBest,\nMia Brandt\nNorthpeak Media",
    "Mia Brandt <mia@northpeak-media.com>",
)


def test_an_agency_writing_for_its_client_gives_the_client_and_names_itself() -> None:
    brand, agency = find_brand(*AGENCY_MAIL)
    assert brand is not None
    assert brand.name == "Velora Skincare"
    assert "named as the client" in brand.why
    assert agency == "Northpeak Media"


def test_every_way_the_mail_names_a_candidate_is_a_feature() -> None:
    found = {c.name: c for c in brand_candidates(*AGENCY_MAIL)}
    assert {"src:client", "client_named"} <= set(found["Velora Skincare"].features)
    assert "agency_word" in found["Northpeak Media"].features
    assert "sender_person" in found["Mia Brandt"].features


@pytest.mark.parametrize(
    ("body", "sender", "name", "has", "lacks"),
    [
        # a person said to be from a company names the company
        (
            "Ciao! Sono Davide di Vetta Outdoor.",
            "Davide <dav@gmail.com>",
            "Vetta Outdoor",
            {"person_from"},
            set(),
        ),
        # an owner introduces the brand
        (
            "Sou o Rui, dono d'A Padaria do Porto.",
            "Rui <rui@gmail.com>",
            "A Padaria do Porto",
            {"src:we_are"},
            set(),
        ),
        # the sender introducing themself is not the brand introducing itself
        ("Soy Pau, llevo La Huerta.", "Pau Ribera <pau@gmail.com>", "Pau", {"sender_person"}, {"src:we_are"}),
        # a web address in the signature spells the brand when the sender writes from another domain
        (
            "We'd love a Reel.\n\nRachel Osei\nHollow Oak Candles\nhollowoakcandles.com",
            "Rachel <rachel@hoc-studio.com>",
            "Hollow Oak Candles",
            {"src:site_word"},
            set(),
        ),
        # an affiliate network writes for the brands whose programmes it runs
        (
            "Desde Red Afiliados Sol os escribimos.",
            "Sol <a@redafiliadossol.es>",
            "Red Afiliados Sol",
            {"agency_word"},
            set(),
        ),
        # "de la" joins a name
        (
            "Nous sommes la Biscuiterie de la Baie.",
            "Anne <anne@gmail.com>",
            "Biscuiterie de la Baie",
            {"src:we_are"},
            set(),
        ),
        # an ad sales house names the brand it represents, an agency the brand whose communication it runs
        (
            "Studio Hertz, régie audio qui représente la Biscuiterie Lunelle.",
            "Julien <julien@studiohertz.fr>",
            "Biscuiterie Lunelle",
            {"src:works_for"},
            set(),
        ),
        (
            "Seguiamo la comunicazione digitale di Caffè Duomo.",
            "Chiara <chiara@studiovela.it>",
            "Caffè Duomo",
            {"src:works_for"},
            set(),
        ),
        # a media buyer names the advertiser it buys for
        (
            "Crescent is running Halo's Q3 creator flight.",
            "Tobias <tobias@crescentmediagroup.com>",
            "Halo",
            {"src:works_for"},
            set(),
        ),
        (
            "We're placing Q2 audio for Quillbook.",
            "Reggie <reggie@sonicharbor.fm>",
            "Quillbook",
            {"src:works_for"},
            set(),
        ),
        # a campaign's name is quoted; the brand is not
        (
            'Halo\'s card launches with "Build It Back".',
            "Tobias <tobias@crescentmediagroup.com>",
            "Build It Back",
            {"quoted"},
            set(),
        ),
        # single quotes too, and the closing one is no part of the name
        ("We make 'Flip My Flat', the series.", "Ruth <r@tallpines.nl>", "Flip My Flat", {"quoted"}, set()),
        # a weekday opens the name when the sender's domain spells it whole
        ("Sunday Ritual here!", "Priya <priya@sundayritual.co>", "Sunday Ritual", {"src:domain_word"}, set()),
        # the founder of a brand named as "the brand X": X
        ("Ich bin Gründerin der Marke Sonnenhof.", "Lea <lea@gmail.com>", "Sonnenhof", {"src:we_are"}, set()),
        # a domain or a web address spells a name's "&" as a word
        (
            "Sono Marco di Ferri & Figli.",
            "Marco <marco@ferriefigli.it>",
            "Ferri & Figli",
            {"src:domain_word"},
            set(),
        ),
        (
            "We'd love a Reel.\n\nIris\nfounder, Kombu & Co.\nkombuandco.es",
            "Iris <iris.navarro@gmail.com>",
            "Kombu & Co",
            {"src:site_word"},
            set(),
        ),
        # a network names the advertiser who pays for the read
        (
            "We've got a new advertiser, Bloom, for the show.",
            "Marit <m@loudhouse.fm>",
            "Bloom",
            {"src:works_for"},
            set(),
        ),
        (
            "Nous avons un nouvel annonceur, la Biscuiterie Lemoine.",
            "Hugo <h@regie-ondes.fr>",
            "Biscuiterie Lemoine",
            {"src:works_for"},
            set(),
        ),
        # a German compound of an offer's word opens no name
        (
            "Kooperationsanfrage Alpenkind: 2 Reels",
            "Miriam <m@alpenkind.de>",
            "Alpenkind",
            {"src:name"},
            set(),
        ),
    ],
)
def test_how_a_mail_gives_a_candidate(
    body: str, sender: str, name: str, has: set[str], lacks: set[str]
) -> None:
    found = {c.name: c for c in brand_candidates("Collab", body, sender)}
    assert name in found, sorted(found)
    assert has <= set(found[name].features)
    assert not lacks & set(found[name].features)


def test_a_group_is_no_candidate_beside_its_brand() -> None:
    body = "I'm Hugo at Harbor Lane Group. Among our spirits is Saltmarsh Gin.\n\nHugo\nHarbor Lane Group plc"
    found = {c.name for c in brand_candidates("Saltmarsh Gin campaign", body, "Hugo <h@harborlanegroup.com>")}
    assert "Saltmarsh Gin" in found
    assert not any("Group" in name for name in found), sorted(found)
    # the group's name without its group word is the group too
    body = "Wir von Kessler Getränke stellen Alpenhopf vor.\n\nKessler Getränke Holding GmbH"
    found = {c.name for c in brand_candidates("Alpenhopf x Lukas", body, "K <k@kessler-getraenke.de>")}
    assert "Alpenhopf" in found
    assert not any(name.startswith("Kessler") for name in found), sorted(found)
    # the only name the mail gives stays a candidate
    alone = {
        c.name for c in brand_candidates("hello", "ciao, a presto.", "Gruppo Ferretti <g@ferretti-group.it>")
    }
    assert alone == {"Gruppo Ferretti"}, sorted(alone)


def test_an_offer_compound_is_no_part_of_a_name() -> None:
    found = {
        c.name for c in brand_candidates("Kooperationsanfrage Alpenkind", "Hallo!", "M <m@alpenkind.de>")
    }
    assert "Alpenkind" in found
    assert not any(name.startswith("Kooperationsanfrage") for name in found), sorted(found)


def test_a_name_within_the_creators_is_marked_as_theirs() -> None:
    """ "Partnership idea for Lina": the creator named where a brand would be is weighed as the creator."""
    mail = ("Lina x Ferncliff Tea", "Hi! Ferncliff Tea would love 1 Reel with Lina Park.", "A <a@gmail.com>")
    found = {c.name: c for c in brand_candidates(*mail, creator="Lina Park")}
    assert "creator" in found["Lina"].features
    assert "creator" not in found["Ferncliff Tea"].features
    # a "creator" that is no person's name (the talent finder took the brand) marks nothing
    unmarked = brand_candidates(*mail, creator="Ferncliff Tea")
    assert not any("creator" in c.features for c in unmarked)


def test_a_subject_naming_nothing_of_the_senders_domain_speaks_for_another_brand() -> None:
    """A distributor writes from its own domain; the subject names the brand it sells."""
    body = "Ciao Rosa, 1 Reel per Kettlebrook.\n\nLuca\nDistribuzioni Monte"
    sender = "Luca <l@distribuzionimonte.it>"
    found = {c.name: c for c in brand_candidates("Proposta Kettlebrook", body, sender)}
    assert "in_subject&sender_unnamed" in found["Kettlebrook"].features
    # the brand writing from its own domain names itself in the subject: nothing is marked
    own = {c.name: c for c in brand_candidates("Proposta Kettlebrook", body, "Luca <l@kettlebrook.it>")}
    assert "in_subject&sender_unnamed" not in own["Kettlebrook"].features


def test_an_agency_word_stripped_from_a_name_still_marks_an_agency() -> None:
    found = {c.name: c for c in brand_candidates("Propuesta", "Soy Alba, de Media Norte.", "A <a@gmail.com>")}
    assert "agency_word" in found["Norte"].features
    assert "Soy Alba" not in found  # "soy" opens a sentence; it names no one


@pytest.mark.parametrize(
    ("body", "thing", "owner"),
    [
        ("PROJECT NIGHTSHIFT is our biggest launch.\n\nPROJECT NIGHTSHIFT is a Corvane product.",
         "PROJECT NIGHTSHIFT", "Corvane"),
        ("A Rota dos Sabores é uma iniciativa dos Vinhos Solar de Anta.", "Rota dos Sabores",
         "Vinhos Solar de Anta"),
        ("Die Aktion Sommerfrische ist eine Kampagne von Almhof Käse.", "Aktion Sommerfrische",
         "Almhof Käse"),
    ],
)  # fmt: skip
def test_a_campaign_the_mail_says_is_the_brands_is_not_the_brand(body: str, thing: str, owner: str) -> None:
    found = {c.name: c for c in brand_candidates(f"{thing} - invitation", body, "Mika <mika@gmail.com>")}
    assert thing not in found, sorted(found)
    assert "src:owner" in found[owner].features


def test_a_sponsored_show_or_a_launched_product_is_marked_as_a_thing() -> None:
    body = "We're keen to sponsor The Side Hustle Hour this quarter. We launch Zest Card in May."
    found = {c.name: c for c in brand_candidates("Ad reads", body, "Owen <owen@pennywise.finance>")}
    assert "src:thing" in found["Side Hustle Hour"].features
    assert "src:thing" in found["Zest Card"].features


def test_a_file_or_a_platform_link_spells_no_brand() -> None:
    body = (
        "The Moodboard is attached (Moodboard.pdf). Book a slot on Calendly: calendly.com/sam-kelpie\n"
        "Kelpie Labs\nkelpielabs.com"
    )
    found = {c.name: c for c in brand_candidates("Collab", body, "Sam <sam@hoc-studio.com>")}
    site_words = {name for name, c in found.items() if "src:site_word" in c.features}
    assert site_words == {"Kelpie Labs"}, site_words


def test_the_weights_decide_between_the_candidates() -> None:
    """The same mail under weights that trust only the sender's domain answers the agency."""
    domain_only = {"src:domain": 10.0}
    brand, agency = find_brand(*AGENCY_MAIL, weights=domain_only)
    assert brand is not None
    assert brand.name == "Northpeak Media"
    assert agency is None


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("Harvest", "Harvest Foods", True),
        ("Harvest Foods Ltd", "harvest", True),
        ("Röstwerk GmbH", "Röstwerk Coffee", True),
        ("Tea Co", "Tea", False),  # a name of trade words only keeps them
        ("Tea Company", "Tea", False),
        ("Harvest", "Harvest Moon", False),
    ],
)
def test_a_brand_is_matched_by_its_core_name(one: str, other: str, same: bool) -> None:
    assert (brand_core(one) == brand_core(other)) is same


def test_a_mail_with_no_name_at_all_answers_nothing() -> None:
    assert find_brand("", "", "") == (None, None)


def test_shipped_model_is_what_training_gives() -> None:
    """``python -m talentq.dev.train_brand_ranker --check`` on the shipped weights."""
    assert train_brand_ranker.main(["--corpus", str(CORPUS), "--check"]) == 0


def test_check_refuses_weights_training_would_not_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = dict(brand_model())
    changed["src:client"] = changed.get("src:client", 0.0) + 1.0
    model = tmp_path / "brand_model.json"
    model.write_text(train_brand_ranker.render(changed), encoding="utf-8")
    assert train_brand_ranker.main(["--corpus", str(CORPUS), "--model", str(model), "--check"]) == 1
    assert "src:client" in capsys.readouterr().err
    assert json.loads(model.read_text(encoding="utf-8"))["weights"]["src:client"] == changed["src:client"]


def test_by_batch_scores_each_batch_with_a_model_that_never_read_it() -> None:
    """``train_brand_ranker --by-batch``: a batch is scored by weights fitted on the others only."""

    def mail(id_: str, right_first: bool) -> train_brand_ranker.Mail:
        brand = Candidate("Brand", features={"src:client": 1.0})
        agency = Candidate("Agency", features={"src:display": 1.0})
        right = frozenset([0]) if right_first else frozenset([1])
        return train_brand_ranker.Mail(id_, [brand, agency], right, right)

    # Two batches teach "the client is the brand"; the third says the opposite, so a model that
    # had read it could not pick its brand, and one fitted on the others picks the client.
    mails = [mail(f"a-{k}", True) for k in range(3)] + [mail(f"b-{k}", True) for k in range(3)]
    mails.append(mail("c-0", False))
    scores = train_brand_ranker.by_batch(mails)
    assert scores["a"] == (3, 3, 3)
    assert scores["b"] == (3, 3, 3)
    assert scores["c"] == (0, 0, 1)
