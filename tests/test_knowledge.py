"""The knowledge matcher: normalisation, synonyms, typos, thresholds, out of scope, English."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.content.bundle import Content
from bot.knowledge.matcher import FuzzyIndex, Thresholds, stem
from bot.knowledge.text import fold
from tests.conftest import ROOT

EXAMPLES = {
    "collegegeld": ["hoeveel collegegeld betaal ik", "wat kost de studie"],
    "werkweek": ["hoeveel dagen werk ik en hoeveel dagen school", "how many days at work"],
    "ad-of-bachelor": ["wat is het verschil tussen een ad en een bachelor"],
}
SYNONYMS = [["associate degree", "ad", "associate-degree"], ["collegegeld", "lesgeld", "tuition"]]


@pytest.fixture
def index() -> FuzzyIndex:
    return FuzzyIndex(EXAMPLES, SYNONYMS)


def test_folding_strips_case_accents_and_punctuation() -> None:
    assert fold("  Wát kóst  het?! ") == "wat kost het"
    assert fold("ＭＫＢ-route") == "mkb route"  # NFKC full-width letters


def test_synonyms_map_to_one_term(index: FuzzyIndex) -> None:
    assert index.normalise("AD of Associate-Degree?") == "associate degree of associate degree"
    assert index.lookup("hoeveel lesgeld betaal ik", "nl").ids == ("collegegeld",)
    assert index.lookup("verschil associate degree en bachelor", "nl").ids == ("ad-of-bachelor",)


def test_light_stemming() -> None:
    assert stem("opleidingen") == "opleiding"
    assert stem("kosten") == "kost"
    assert stem("werkgevers") == "werkgever"
    assert stem("employers") == "employer"
    assert stem("dagen") == "dag"
    assert stem("ad") == "ad"


def test_typos_and_compounds_still_match(index: FuzzyIndex) -> None:
    assert index.lookup("hoeveel colegegeld betaal ik", "nl").ids == ("collegegeld",)
    found = index.lookup("hoeveel werkdagen en schooldagen", "nl")
    assert found.ids and found.ids[0] == "werkweek"


def test_typos_of_synonyms_and_dutch_spelling_slips_still_match(index: FuzzyIndex) -> None:
    # "tuition" is only a synonym (the vocabulary knows "collegegeld"): its typo still counts.
    assert index.lookup("hoeveel tution betaal ik", "nl").ids == ("collegegeld",)
    # A 16-year-old types "y" for "ij" and swaps "ei" and "ij".
    spelled = FuzzyIndex({"leeftijd": ["is er een maximum leeftijd"], **EXAMPLES}, SYNONYMS)
    assert spelled.lookup("is er een maximum leeftyd", "nl").ids == ("leeftijd",)
    assert spelled.lookup("is er een maximum leefteid", "nl").ids == ("leeftijd",)


def test_english_questions(index: FuzzyIndex) -> None:
    found = index.lookup("how many days do I work", "en")
    assert found.status == "answer" and found.ids == ("werkweek",)


def test_three_outcomes_follow_the_thresholds() -> None:
    strict = FuzzyIndex(EXAMPLES, SYNONYMS, Thresholds(answer=150, suggest=30, margin=0, known=0))
    lenient = FuzzyIndex(EXAMPLES, SYNONYMS, Thresholds(answer=30, suggest=20, margin=0, known=0))
    q = "wat kost de studie per jaar"
    assert strict.lookup(q, "nl").status == "ambiguous"
    assert lenient.lookup(q, "nl").status == "answer"
    assert strict.lookup("de kat krabt de krullen van de trap", "nl").status == "none"


def test_unknown_words_block_a_confident_answer() -> None:
    """'subsidie voor zonnepanelen' shares a word but is about something else entirely."""
    examples = {"subsidie": ["is er subsidie voor de begeleiding"], "duur": ["hoe lang duurt het"]}
    t = Thresholds(answer=30, suggest=20, margin=0, known=0.7)
    index = FuzzyIndex(examples, (), t)
    assert index.lookup("is er subsidie voor de begeleiding", "nl").status == "answer"
    assert index.lookup("is er subsidie voor zonnepanelen", "nl").status == "ambiguous"
    assert index.lookup("subsidie zonnepanelen warmtepomp", "nl").status == "none"


def test_out_of_scope_examples_win_over_a_shared_word() -> None:
    """Issue 14 §3: "hoe meld ik me ziek" shares "aanmelden" with an entry; the out-of-scope
    examples make it "weet ik niet" instead of the registration answer."""
    examples = {
        "aanmelden": ["hoe meld ik me aan", "waar kan ik me aanmelden voor de opleiding"],
        "duur": ["hoe lang duurt de opleiding"],
    }
    outside = ["hoe meld ik me ziek bij mijn baas", "hoe lang duurt de opleiding tot piloot"]
    t = Thresholds(answer=30, suggest=20, margin=0, known=0.5)
    plain, guarded = FuzzyIndex(examples, (), t), FuzzyIndex(examples, (), t, outside=outside)
    for question in (
        "hoe meld ik me ziek op mijn werk",
        "hoe lang duurt een opleiding voor piloot",
    ):
        assert plain.lookup(question, "nl").status != "none"
        assert guarded.lookup(question, "nl").status == "none"
    # The real questions still get their answer, and the pseudo-entry is never an id.
    assert guarded.lookup("hoe meld ik me aan", "nl").ids == ("aanmelden",)
    assert guarded.lookup("hoe lang duurt de opleiding", "nl").ids == ("duur",)
    assert all(e in examples for e, _ in guarded.scores("hoe meld ik me ziek"))


def test_words_only_out_of_scope_examples_use_are_not_known() -> None:
    """A word the index learnt only from out-of-scope examples ("isolatie") must not make a
    question look familiar; otherwise adding examples would let more questions through."""
    examples = {"subsidie": ["is er subsidie voor de begeleiding"]}
    plain = FuzzyIndex(examples, ())
    guarded = FuzzyIndex(examples, (), outside=["subsidie voor isolatie van je huis"])
    for question in ("subsidie isolatie", "subsidie voor isolatie van de zolder"):
        assert guarded.rank(question).known == plain.rank(question).known < 1.0
    assert guarded.rank("subsidie begeleiding").known == 1.0


def test_an_answer_needs_the_entry_to_know_the_question() -> None:
    """The likely band shows an answer only when the entry itself knows most of the question's
    words, not when the words are spread over several entries."""
    examples = {
        "kosten": ["wat kost de opleiding", "hoeveel kost het per jaar"],
        "werkweek": ["hoeveel dagen werk ik per week"],
    }
    t = Thresholds(answer=1000, likely=20, likely_margin=0, likely_known=0, likely_covers=0.8)
    index = FuzzyIndex(examples, (), t)
    assert index.lookup("wat kost de opleiding per jaar", "nl").status == "likely"
    assert index.lookup("wat kost een dag werk per week", "nl").status != "likely"
    assert index.rank("wat kost een dag werk per week").covers["kosten"] < 0.8


def test_nothing_shared_means_no_match(index: FuzzyIndex) -> None:
    assert index.lookup("", "nl").status == "none"
    assert index.lookup("?!", "nl").status == "none"
    assert index.lookup("pizza bezorgen", "nl").status == "none"


OUT_OF_SCOPE = [
    "wat voor weer wordt het morgen",
    "hoe laat vertrekt de trein naar Zwolle",
    "waar kan ik parkeren bij de hogeschool",
    "hoe word ik huisarts",
    "kan ik een lening krijgen voor een auto",
    "who won the football match yesterday",
    "asdfghjkl",
    "vertel een mop",
]


@pytest.mark.parametrize("question", OUT_OF_SCOPE)
def test_out_of_scope_questions_get_no_confident_answer(content: Content, question: str) -> None:
    assert content.index.lookup(question, "nl").status != "answer"


@pytest.mark.parametrize(
    ("question", "lang", "entry"),
    [
        ("wat is de mkb route", "nl", "wat-is-de-mkb-route"),
        ("what is the mkb route", "en", "wat-is-de-mkb-route"),
        ("hoeveel dagen werk ik", "nl", "werkweek"),
        ("wie betaalt het collegegeld", "nl", "collegegeld"),
        ("krijg ik salaris", "nl", "salaris-en-contract"),
        ("how long does it take", "en", "duur"),
        ("bestaat het stap budget nog", "nl", "stap-budget"),
    ],
)
def test_shipped_knowledge_answers_common_questions(
    content: Content, question: str, lang: str, entry: str
) -> None:
    found = content.index.lookup(question, lang)
    assert (found.status, found.ids[:1]) == ("answer", (entry,))


def _eval_items(name: str) -> list[dict[str, str | None]]:
    path = ROOT / "benchmarks" / "data" / name
    items: list[dict[str, str | None]] = yaml.safe_load(path.read_text(encoding="utf-8"))[
        "questions"
    ]
    return items


# Today's results on the frozen held-out set minus about one question (right first, one tap)
# or plus one (wrong, out of scope shown): a change that makes things worse for users fails.
HELD_OUT_FLOORS = {
    "nl": {
        "right_first": 0.922,
        "one_tap": 0.961,
        "one_tap_chat": 0.984,
        "wrong": 0.047,
        "oos_shown": 0.045,
    },
    "en": {
        "right_first": 0.931,
        "one_tap": 0.977,
        "one_tap_chat": 0.988,
        "wrong": 0.035,
        "oos_shown": 0.029,
    },
}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_frozen_held_out_set_what_the_user_sees(lang: str, content: Content) -> None:
    """Issue 14 on the frozen held-out set, per language, as the chat decides.

    The issue's targets are not all met yet (issue 14 stays open): right answer in the first
    reply >= 90% (92.6% / 93.7%), one tap >= 98% (96.5% / 98.3% among the matcher's
    alternatives; 98.8% / 99.4% counting the related topics under every answer), wrong <= 2%
    (4.3% / 2.9%), out-of-scope shown <= 2.5% (2.2% / 0%). The floors keep what was reached.
    """
    from benchmarks.knowledge import load_items, ours, real_data, shown

    items = [i for i in load_items("knowledge_heldout.yaml") if i.lang == lang]
    assert sum(1 for i in items if i.id) >= 150 and sum(1 for i in items if not i.id) >= 30
    s = shown(ours(real_data()), items, knowledge=content.knowledge)
    floor = HELD_OUT_FLOORS[lang]
    assert s.right_first >= floor["right_first"], s
    assert s.one_tap >= floor["one_tap"], s
    assert s.one_tap_chat >= floor["one_tap_chat"], s
    assert s.wrong <= floor["wrong"], s
    assert s.oos_shown <= floor["oos_shown"], s


# The validation sets (written from titles and answers only, never calibrated on): today's
# results minus about one question (right first, one tap) or plus one (wrong, out of scope).
VALIDATION_FLOORS = {
    ("knowledge_dev7.yaml", "nl"): (0.955, 0.983, 0.028, 0.028),
    ("knowledge_dev7.yaml", "en"): (0.975, 0.983, 0.017, 0.042),
    ("knowledge_dev8.yaml", "nl"): (0.944, 0.983, 0.028, 0.056),
    ("knowledge_dev8.yaml", "en"): (0.933, 0.966, 0.034, 0.167),
    ("knowledge_dev9.yaml", "nl"): (0.927, 0.972, 0.028, 0.028),
    ("knowledge_dev9.yaml", "en"): (0.933, 0.958, 0.034, 0.042),
    ("knowledge_dev10.yaml", "nl"): (0.950, 0.978, 0.017, 0.056),
    ("knowledge_dev10.yaml", "en"): (0.950, 0.967, 0.025, 0.125),
}


@pytest.mark.parametrize(("name", "lang"), sorted(VALIDATION_FLOORS))
def test_fresh_validation_sets_what_the_user_sees(name: str, lang: str) -> None:
    """Right in the first reply / wrong / out of scope shown, nl and en: dev7 96.1% / 2.2% / 0%
    and 98.3% / 0.8% / 0%; dev8 95.0% / 2.2% / 2.8% and 94.2% / 2.5% / 12.5% (3 of 24: "how do
    i register my garage with the chamber of commerce" gets the sign-up answer); dev9 93.3% /
    2.2% / 0% and 94.2% / 2.5% / 0%; dev10 (measured once, untouched) 95.6% / 1.1% / 2.8% and
    95.8% / 1.7% / 8.3%."""
    from benchmarks.knowledge import load_items, ours, real_data, shown

    items = [i for i in load_items(name) if i.lang == lang]
    s = shown(ours(real_data()), items)
    right_first, one_tap, wrong, oos_shown = VALIDATION_FLOORS[(name, lang)]
    assert s.right_first >= right_first, s
    assert s.one_tap >= one_tap, s
    assert s.wrong <= wrong, s
    assert s.oos_shown <= oos_shown, s


# Questions of the measuring sets that are word for word among what the matcher learns from.
# Sets written independently share common questions ("How long does it take?", "hoi"); these
# are today's counts, and the benchmark also reports each set without them ("nl new").
VERBATIM_OVERLAP = {
    "knowledge_dev7.yaml": 108,
    "knowledge_dev8.yaml": 67,
    "knowledge_dev9.yaml": 60,
    "knowledge_dev10.yaml": 12,
    "knowledge_heldout.yaml": 119,
}


def test_evaluation_questions_are_not_copied_into_what_the_matcher_learns() -> None:
    """The sets that measure the matcher (validation, held-out) must stay new to it: adding
    one of their questions to an entry, asked.yaml or outside.yaml would inflate its score."""
    from benchmarks.knowledge import VALIDATION, learned_from, real_data

    seen = learned_from(real_data())
    assert set(VERBATIM_OVERLAP) == {*VALIDATION, "knowledge_heldout.yaml"}
    for name, allowed in VERBATIM_OVERLAP.items():
        copied = [i["q"] for i in _eval_items(name) if fold(str(i["q"])) in seen]
        assert len(copied) <= allowed, f"{name}: {len(copied)} questions are now learned from"


def test_questions_users_asked_teach_the_matcher(content: Content, tmp_path: Path) -> None:
    """knowledge/asked.yaml: a question listed there for an entry is found as that entry, and
    an out-of-scope one there gets no answer, although neither is an entry's own example."""
    import shutil

    from bot.content.loader import load_content

    question = "kan mijn neef van de sportschool hier ook iets mee"
    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    asked = tmp_path / "knowledge" / "asked.yaml"
    asked.write_text(
        "questions:\n"
        f'  - {{q: "{question}", lang: nl, id: leeftijd}}\n'
        '  - {q: "welke ploeg wint de eredivisie dit jaar", lang: nl, id: null}\n',
        encoding="utf-8",
    )
    taught = load_content(tmp_path).index
    found = taught.lookup(question, "nl")
    assert found.status in ("answer", "likely") and found.ids[0] == "leeftijd", found
    assert taught.lookup("welke ploeg wint de eredivisie dit jaar", "nl").status == "none"


def test_content_check_reports_problems_in_the_questions_users_asked(tmp_path: Path) -> None:
    """knowledge/asked.yaml is checked like the entries: an unknown entry, a question that is
    already an example or out of scope, a question listed twice, an unknown language."""
    import shutil

    from bot.content.loader import ContentError, load_content

    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    asked = tmp_path / "knowledge" / "asked.yaml"
    for text, expected in (
        (
            '  - {q: "hoe oud mag ik zijn", lang: nl, id: leeftijden}\n',
            "questions[0]: id: no knowledge entry has the id 'leeftijden'",
        ),
        (
            '  - {q: "Hoeveel dagen per week naar de hogeschool?", lang: nl, id: duur}\n',
            "'Hoeveel dagen per week naar de hogeschool?' is already an example of entry "
            "'werkweek'",
        ),
        (
            '  - {q: "hoe laat is het nu", lang: nl, id: duur}\n',
            "is already out of scope in knowledge/outside.yaml",
        ),
        (
            '  - {q: "hoe oud mag ik zijn", lang: nl, id: leeftijd}\n'
            '  - {q: "Hoe oud mag ik zijn?", lang: nl, id: duur}\n',
            "questions[1]: 'Hoe oud mag ik zijn?' is already listed at "
            "knowledge/asked.yaml: questions[0]",
        ),
        ('  - {q: "how old", lang: de, id: leeftijd}\n', "questions[0]: lang: Input should be"),
        ("  - just a question\n", "questions[0]"),
    ):
        asked.write_text("questions:\n" + text, encoding="utf-8")
        with pytest.raises(ContentError) as info:
            load_content(tmp_path)
        assert expected in "\n".join(info.value.errors), info.value.errors


def _cli(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ask_prints_the_answer_with_its_source() -> None:
    proc = _cli(["hoeveel", "dagen", "werk", "ik"])
    assert proc.returncode == 0, proc.stderr
    assert "Bron:" in proc.stdout and "Hoeveel dagen werk en school?" in proc.stdout


def test_ask_json_contract() -> None:
    proc = _cli(["--json", "--lang", "en", "how long does it take"])
    out = json.loads(proc.stdout)
    assert set(out) == {"q", "id", "shown", "score", "alternatives"}
    assert out["id"] == out["shown"] == "duur" and out["alternatives"] == []
    proc = _cli(["--json", "hoe laat gaat de trein naar Zwolle"])
    out = json.loads(proc.stdout)
    assert out["id"] is None and out["shown"] is None and out["alternatives"] == []
    # Not sure enough to answer, but the words point somewhere: the topics are the buttons.
    proc = _cli(["--json", "hoeveel vrije dagen krijg ik voor school"])
    out = json.loads(proc.stdout)
    assert out["id"] is None and out["shown"] is None
    assert out["alternatives"][0] == "werkweek"


def test_ask_piped_into_a_reader_that_stops_early_blames_nothing() -> None:
    """`mkbroute ask ... | head -1`: the closed pipe is not a database error."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "ask", "wat kost het?"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the answer is written
    with proc.stderr:
        stderr = proc.stderr.read()
    proc.wait(timeout=60)
    assert "database" not in stderr and "Traceback" not in stderr, stderr


def test_ask_jsonl_answers_every_line_in_order() -> None:
    lines = [
        json.dumps({"q": "wat is een ad", "lang": "nl"}),
        "not json",
        json.dumps({"q": 5}),
        json.dumps({"q": "what does it cost an employer", "lang": "en"}),
        json.dumps({"q": "x", "lang": "de"}),
    ]
    proc = _cli(["--jsonl"], "\n".join(lines) + "\n")
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 5
    assert out[0]["id"] == "ad-of-bachelor"
    assert "error" in out[1] and "error" in out[2] and "error" in out[4]
    assert out[3]["q"] == "what does it cost an employer"


def test_content_check_reports_knowledge_problems(tmp_path: Path) -> None:
    import shutil

    from bot.content.loader import ContentError, load_content

    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    route = tmp_path / "knowledge" / "route.yaml"
    text = route.read_text(encoding="utf-8")
    start = text.index("  - id: werkweek")
    end = text.index("  - id: ", start + 10)
    route.write_text(text[:start] + text[end:], encoding="utf-8")  # drop a required entry
    student = tmp_path / "knowledge" / "student.yaml"
    text = student.read_text(encoding="utf-8")
    first_q = yaml.safe_load(text)["entries"][0]["questions"]["nl"][0]
    student.write_text(
        text.replace(f'- "{first_q}"', f'- "{first_q}"\n        - "hoeveel dagen werk ik"', 1),
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as info:
        load_content(tmp_path)
    errors = "\n".join(info.value.errors)
    assert "required entry 'werkweek' is missing" in errors
    assert "related: id 'werkweek' does not exist" in errors


def test_content_check_reports_out_of_scope_problems(tmp_path: Path) -> None:
    """knowledge/outside.yaml is checked like the entries: its shape, and no question that is
    also an entry's example (it would silently cancel that example out)."""
    import shutil

    from bot.content.loader import ContentError, load_content

    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    outside = tmp_path / "knowledge" / "outside.yaml"
    for text, expected in (
        ('questions:\n  nl: ["wat voor weer wordt het"]\n', "questions.en: Field required"),
        ("- just a list\n", "knowledge/outside.yaml"),
        (
            'questions:\n  nl: ["Hoeveel dagen per week naar de hogeschool?"]\n  en: ["hi"]\n',
            "questions.nl[0]: 'Hoeveel dagen per week naar de hogeschool?' is an example of "
            "entry 'werkweek'",
        ),
    ):
        outside.write_text(text, encoding="utf-8")
        with pytest.raises(ContentError) as info:
            load_content(tmp_path)
        assert expected in "\n".join(info.value.errors)


def test_the_users_audience_breaks_ties(content: Content) -> None:
    """In the student questionnaire "what does it cost me" means tuition, for employers wages."""
    question = "wat kost het voor mij"
    assert content.index.lookup(question, "nl", "student").ids == ("collegegeld",)
    # The employer gets the employer's costs, and no tuition button beside them: the runner-up
    # button under an answer is never an entry written only for other users.
    assert content.index.lookup(question, "nl", "werkgever").ids == ("kosten-werkgever",)
    # Without a word about who asks, the questionnaire the user is in decides, and an entry
    # written only for others loses: a bakery owner's "wat kost het mij" is about wages.
    assert content.index.lookup("wat kost het mij", "nl", "werkgever").ids[0] == "kosten-werkgever"
    for audience in ("student", "werkende", "werkgever"):
        found = content.index.lookup("wat levert het mij op", "nl", audience)
        assert found.status in ("answer", "likely") and found.ids[0] == f"voordelen-{audience}"
    # The audience breaks ties; it does not make a weak match an answer: an employer typing
    # "iets anders" at the wrong moment is asked, not told about losing a job.
    vague = content.index.lookup("iets anders", "nl", "werkgever")
    assert vague.status not in ("answer", "likely")


def test_the_likely_band_shows_the_answer_with_a_hedge_and_alternatives() -> None:
    """Issue 14 §3: between confident and "Bedoel je...?" the best answer is shown with "Ik
    denk dat je dit bedoelt:" and the runners-up as the first buttons (switched off here to
    show the difference)."""
    from bot.content.loader import load_content
    from bot.engine.engine import handle
    from bot.engine.types import Inbound
    from bot.knowledge.matcher import Thresholds
    from tests.conftest import NOW

    question = "wat levert het op"
    on = load_content()
    off = load_content(thresholds=Thresholds(likely=1000.0))
    assert off.index.lookup(question, "nl").status != "likely"
    found = on.index.lookup(question, "nl")
    assert found.status == "likely" and len(found.ids) >= 2
    turn = handle(on, None, Inbound.from_text(question), NOW)
    reply = turn.replies[0]
    assert reply.text.startswith("Ik denk dat je dit bedoelt:")
    assert on.knowledge[found.ids[0]].answer.nl.split("\n")[0] in reply.text
    assert [b.id for b in reply.buttons][: len(found.ids) - 1] == [
        f"kb:{i}" for i in found.ids[1:]
    ]


def test_an_answer_names_its_linked_source_and_counts_the_rest(content: Content) -> None:
    """A phone screen fits the answer, not a list of five source titles: the reply names the
    linked source, counts the others, and links it."""
    from bot.engine.engine import handle
    from bot.engine.types import Inbound
    from tests.conftest import NOW

    entry = max(content.knowledge.values(), key=lambda e: len({s.label for s in e.sources}))
    labels = list(dict.fromkeys(s.label for s in entry.sources))
    assert len(labels) > 2
    linked = next(s for s in entry.sources if s.url)
    reply = handle(content, None, Inbound.from_text(entry.questions.nl[0]), NOW).replies[0]
    assert entry.answer.nl.split("\n")[0] in reply.text
    assert f"Meer lezen: {linked.url}" in reply.text
    source_line = next(line for line in reply.text.split("\n") if line.startswith("Bron:"))
    assert source_line.endswith(f"{linked.label} (+{len(labels) - 1})")
    assert sum(label in source_line for label in labels) == 1
