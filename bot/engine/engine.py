"""The conversation engine: a pure function from (content, session, inbound, now) to a Turn.

No I/O happens here. The adapters turn platform updates into :class:`Inbound` values, the runtime
stores the returned session and effects in one transaction, and only then are replies sent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache

from rapidfuzz import fuzz

from bot.content.bundle import Content
from bot.content.conditions import Condition, evaluate
from bot.content.models import LANGS, AltTexts, Choice, Entry, Flow, Note, Outcome, Pilot, Step
from bot.engine import buttons as bid
from bot.engine.routing import Route, find_routes, route
from bot.engine.types import (
    Button,
    ConversationState,
    CreateLead,
    Effect,
    Event,
    Inbound,
    RecordConsent,
    Reply,
    Turn,
    Unanswered,
)
from bot.engine.validate import Invalid, validate
from bot.knowledge.text import clean_input, fill, fold, scrub

__all__ = ["handle", "new_session", "topics_after"]

MAX_UNANSWERED = 500
MAX_REPLY = 600  # about one phone screen
_QUESTION_WORDS = frozenset(
    """
    wat hoe wie waar wanneer waarom welke hoeveel hoelang kan kun kunnen mag moet moeten is
    zijn ben heb hebben krijg wordt word doet doe telt geldt bestaat zit gaat what how who
    where when why which can could do does did is are am should will would have has
    """.split()
)
# Whole numbers, with thousands separators: "1.200" and "1,200" are 1200.
_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:[.,]\d{3})+(?!\d)|\d+")
_NO_WORDS = frozenset(
    [
        "nee",
        "neen",
        "nee hoor",
        "nee dat niet",
        "geen van deze",
        "geen van beide",
        "niks",
        "no",
        "nope",
        "none",
        "none of these",
        "neither",
    ]
)
# Knowledge entries about where routes exist: a question they answer that names a field or a
# region gets the route finder's list for it instead of the general answer.
ROUTE_ENTRIES = frozenset(["alle-routes", "pilots"])
_SKIP_WORDS = frozenset(["overslaan", "sla over", "skip", "nee", "no", "geen", "niets", "nothing"])
# Words that say nothing on their own inside a longer answer: "ik weet het niet" is not "nee".
_FUNCTION_WORDS = frozenset(
    ["ja", "nee", "niet", "geen", "nog", "wel", "yes", "no", "not", "none"]
)
_MIN_FUZZY = 4  # shorter forms ("ja", "nee", "ad") never decide an answer by similarity


def new_session(
    content: Content, lang_hint: str | None, default_lang: str = "nl"
) -> ConversationState:
    """A fresh session in the client's language when we speak it, else the default."""
    hint = (lang_hint or "").split("-", 1)[0].casefold()
    return ConversationState(lang=hint if hint in LANGS else default_lang)


def handle(
    content: Content,
    session: ConversationState | None,
    inbound: Inbound,
    now: dt.datetime,
    default_lang: str = "nl",
) -> Turn:
    """Process one inbound message and return the new session, the replies and the effects."""
    t = _TurnBuilder(content, session or new_session(content, inbound.lang, default_lang), now)
    if session is None:
        t.event("session_started")
    if inbound.kind == "command":
        t.command(inbound.value, clean_input(inbound.args))
    elif inbound.kind == "button":
        t.button(inbound.value)
    else:
        t.text(clean_input(inbound.value))
    return t.result()


class _TurnBuilder:
    """Accumulates one turn's session changes, replies and effects."""

    def __init__(self, content: Content, session: ConversationState, now: dt.datetime) -> None:
        self.content = content
        self.messages = content.messages
        # "Bedoel je...?" holds for one reply only: "nee" right after it rejects the suggestions.
        self.was_suggesting = session.suggesting
        self.state = replace(session, suggesting=False) if session.suggesting else session
        self.now = now
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []

    # ----------------------------------------------------------------- plumbing

    @property
    def lang(self) -> str:
        return self.state.lang

    def msg(self, key: str, **values: str) -> str:
        return fill(getattr(self.messages, key).get(self.lang), **values)

    def btn(self, button_id: str, key: str, **values: str) -> Button:
        return Button(button_id, self.msg(key, **values))

    def say(self, text: str, buttons: Iterable[Button] = ()) -> None:
        self.replies.append(Reply(text, tuple(buttons)))

    def event(self, type_: str, **data: object) -> None:
        self.effects.append(Event(type_, dict(data)))

    def result(self) -> Turn:
        return Turn(self.state, tuple(self.replies), tuple(self.effects))

    def facts(self) -> dict[str, str]:
        facts = dict(self.state.answers)
        if self.state.audience:
            facts["doelgroep"] = self.state.audience
        if self.state.outcome:
            facts["verdict"] = str(self.state.outcome["verdict"])
        return facts

    def holds(self, cond: Condition | None, default: bool = True) -> bool:
        return default if cond is None else evaluate(cond, self.facts())

    def open_step(self) -> tuple[Flow, Step] | None:
        if self.state.mode != "flow" or not self.state.flow or not self.state.step:
            return None
        flow = self.content.flows.get(self.state.flow)
        step = _step(flow, self.state.step) if flow else None
        return (flow, step) if flow and step else None

    def menu_buttons(self) -> list[Button]:
        buttons = [Button(bid.menu(f.id), f.title.get(self.lang)) for f in self.content.audiences]
        buttons.append(self.btn(bid.menu("vraag"), "menu_question"))
        buttons.append(self.btn(bid.TOPICS, "btn_topics"))
        buttons.append(self.btn(bid.CONTACT, "btn_human"))
        return buttons

    def menu(self, text_key: str = "menu_prompt") -> None:
        buttons = self.menu_buttons()
        if self.open_step() or self.state.mode == "summary":
            buttons.insert(0, self.btn(bid.RESUME, "btn_resume"))
        self.say(self.msg(text_key), buttons)

    def reprompt(self) -> None:
        """Ask the open question again (after a free question, /help, /privacy, ...)."""
        if self.state.mode == "summary":
            self.summary()
        elif opened := self.open_step():
            self.ask(*opened)

    # ----------------------------------------------------------------- commands and buttons

    def command(self, name: str, args: str) -> None:
        if name == "start":
            self.state = replace(self.state, asking=False)
            self.menu(
                "welcome_back" if self.open_step() or self.state.mode == "summary" else "welcome"
            )
        elif name == "menu":
            self.state = replace(self.state, asking=False)
            self.menu()
        elif name == "vraag":
            if args:
                self.question(args)
                self.reprompt()
            else:
                self.state = replace(self.state, asking=True)
                self.say(self.msg("ask_question"), [self.btn(bid.MENU, "btn_menu")])
        elif name == "terug":
            self.back()
        elif name == "opnieuw":
            self.restart()
        elif name == "stop":
            self.stop()
        elif name == "privacy":
            self.say(self.msg("privacy_full"))
            self.reprompt()
        elif name == "taal":
            self.language(args.casefold())
        elif name == "help":
            self.say(self.msg("help"))
            self.reprompt()
        elif name == "contact":
            self.start_contact()
        elif name == "herhaal":
            self.reprompt()
        else:
            self.say(self.msg("unknown_command"))
            self.reprompt()

    def button(self, button_id: str) -> None:
        pressed = bid.parse(button_id)
        kind, rest = pressed.kind, pressed.arg
        if kind == "c":
            self.choice_button(pressed.arg, pressed.arg2)
        elif kind == "menu":
            if rest == "vraag":
                self.state = replace(self.state, asking=True)
                self.say(
                    self.msg("ask_question"),
                    [self.btn(bid.TOPICS, "btn_topics"), self.btn(bid.MENU, "btn_menu")],
                )
            elif rest in self.content.flows and self.content.flows[rest].kind == "audience":
                self.choose_audience(self.content.flows[rest])
            else:
                self.menu()
        elif (
            kind == "switch"
            and rest in self.content.flows
            and self.content.flows[rest].kind == "audience"
        ):
            self.start_flow(self.content.flows[rest])
        elif kind == "topics":
            self.topics(rest)
        elif kind == "kb" and rest in self.content.knowledge:
            self.answer_entry(rest)
            self.reprompt()
        elif kind == "lang":
            self.language(rest)
        elif kind == "edit" and self.state.mode == "summary":
            self.edit(rest)
        elif button_id == bid.CONFIRM:
            self.confirm()
        elif button_id == bid.CANCEL and self.state.mode == "summary":
            self.state = replace(
                self.state, mode="done", flow=None, step=None, contact={}, consent=None
            )
            self.event("lead_cancelled")
            self.say(self.msg("lead_cancelled"), self.menu_buttons())
        elif button_id == bid.BACK:
            self.back()
        elif button_id == bid.RESTART:
            self.restart()
        elif button_id == bid.RESUME:
            if self.open_step() or self.state.mode == "summary":
                self.reprompt()
            elif self.state.mode == "done" and self.state.lead_ref:
                # Back after a crash that swallowed the confirmation: tell them it arrived.
                self.say(
                    self.msg("lead_already", lead_ref=self.state.lead_ref), self.menu_buttons()
                )
            else:
                self.menu()
        elif button_id == bid.PRIVACY:
            self.say(self.msg("privacy_full"))
            self.reprompt()
        elif button_id == bid.CONTACT:
            self.start_contact()
        elif button_id == bid.SKIP and (opened := self.open_step()) and opened[1].optional:
            self.answer(*opened, "")
        elif button_id == bid.NONE and self.open_step():
            self.say(self.msg("pick_again"))
            self.reprompt()
        else:
            self.stale()

    def stale(self) -> None:
        """A button from an old message (or a forged one): say so and show what is open now."""
        if self.open_step() or self.state.mode == "summary":
            self.say(self.msg("stale_button"))
            self.reprompt()
        else:
            self.menu()

    def language(self, code: str) -> None:
        if code in LANGS:
            self.state = replace(self.state, lang=code)
            self.say(self.msg("language_set"))
            self.reprompt()
        else:
            self.say(
                self.msg("language_prompt"),
                [Button(bid.lang("nl"), "Nederlands"), Button(bid.lang("en"), "English")],
            )

    # ----------------------------------------------------------------- typed text

    def text(self, text: str) -> None:
        if not text:
            self.say(self.msg("use_buttons"))
            self.reprompt()
            return
        opened = self.open_step()
        typing = opened is not None and opened[1].input is not None
        if not typing and self.wants_person(text):
            self.start_contact()
            return
        if typing and opened and opened[1].optional and fold(text) in _SKIP_WORDS:
            self.answer(*opened, "")
            return
        if not typing and self.small_talk(text, opened):
            return
        if not typing and self.route_finder(text):
            self.reprompt()
            return
        if self.state.asking or self.state.mode == "question":
            if opened is None and (flow := self.match_menu(text)) is not None:
                self.choose_audience(flow)
                return
            # Outside a questionnaire the next text is another question ("Nog een vraag?").
            self.state = replace(
                self.state, asking=opened is None and self.state.mode != "summary"
            )
            self.question(text)
            self.reprompt()
            return
        if self.state.mode == "summary":
            answered = self.question(text, quiet=True)
            self.summary(self.msg("summary_short" if answered else "summary_use_buttons"))
            return
        if opened is None:
            flow = self.match_menu(text)
            if flow is not None:
                self.choose_audience(flow)
            elif _looks_like_question(text) or len(text.split()) >= 4:
                self.question(text)
            elif not self.question(text, quiet=True):
                # A bare word or a name is no question: keep it out of the editors' log.
                self.say(self.msg("not_understood_menu"), self.menu_buttons())
            return
        flow, step = opened
        if step.choices:
            self.text_for_choice(flow, step, text)
        else:
            self.text_for_input(flow, step, text)

    def text_for_choice(self, flow: Flow, step: Step, text: str) -> None:
        if _looks_like_question(text):
            # "hoe laat gaat de trein naar utrecht?" is a question, not the answer "Utrecht".
            self.question(text)
            self.ask(flow, step)
            return
        if self.was_suggesting and fold(text) in _NO_WORDS:
            # "nee" to "Bedoel je...?" rejects the suggestions; it is not the answer "nee".
            self.say(self.msg("pick_again"))
            self.ask(flow, step)
            return
        status, ids, number = _match_choice(step, text)
        if status == "answer":
            if _asks_too(text):
                # "ik ben 44 en heb geen havo, kan ik toch instromen": 44 answers the step, and
                # the question after it deserves its answer too (when the knowledge has one).
                self.question(text, quiet=True)
            self.answer(flow, step, ids[0], number)
        elif status == "suggest":
            buttons = [
                Button(bid.choice(step.id, c.id), c.label.get(self.lang))
                for c in step.choices
                if c.id in ids
            ]
            buttons.append(self.btn(bid.NONE, "btn_none_of_these"))
            self.state = replace(self.state, suggesting=True)
            self.say(self.msg("did_you_mean"), buttons)
        elif fold(text).isdigit():
            self.say(self.msg("number_unclear"))
            self.ask(flow, step)
        elif flow.kind == "audience" and (other := self.match_menu(text)) is not None:
            self.choose_audience(other)  # "ik ben ondernemer" halfway the student questions
        elif (len(fold(text).split()) < 2 and "?" not in text) or not self.question(
            text, quiet=True
        ):
            # One unclear word ("jaar") is a failed answer, not a question about study length.
            self.say(self.msg("not_understood"))
            self.ask(flow, step)
        else:
            self.ask(flow, step)

    def text_for_input(self, flow: Flow, step: Step, text: str) -> None:
        assert step.input is not None
        checked = validate(step.input, text, step.max_length)
        if isinstance(checked, Invalid):
            if _looks_like_question(text) and self.question(text, quiet=True):
                self.ask(flow, step)
                return
            self.say(self.msg(checked.reason))
            self.ask(flow, step)
            return
        self.answer(flow, step, checked.value)

    def match_menu(self, text: str) -> Flow | None:
        """A short typed text like 'studeren' or 'ik ben ondernemer' picks a questionnaire."""
        if len(text.split()) > 6 or _looks_like_question(text):
            return None
        query = fold(text)
        words = f" {query} "
        best: dict[str, float] = {}
        for flow in self.content.audiences:
            for form in map(fold, (flow.title.nl, flow.title.en, *flow.also.nl, *flow.also.en)):
                score = 0.0
                if form == query:
                    score = 100.0
                elif len(form) >= _MIN_FUZZY and form not in _FUNCTION_WORDS:
                    if f" {form} " in words:
                        # The longest form named wins: "student aannemen" is an employer.
                        score = 90.0 + min(len(form), 30) / 10
                    elif len(query) >= _MIN_FUZZY:
                        score = fuzz.ratio(query, form)
                best[flow.id] = max(best.get(flow.id, 0.0), score)
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or ranked[0][1] < 88:
            return None
        if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < 0.5:
            return None  # two questionnaires fit as well: the menu buttons decide
        return self.content.flows[ranked[0][0]]

    # ----------------------------------------------------------------- knowledge

    def question(self, text: str, quiet: bool = False) -> bool:
        """Answer a free question; with ``quiet`` say nothing unless there is something to say.

        Returns True when something was answered or suggested.
        """
        found = self.content.index.lookup(text, self.lang, self.state.audience)
        if (
            found.status != "none"
            and found.ids[0] in ROUTE_ENTRIES
            and self.route_finder(text, about_routes=True)
        ):
            return True
        if found.status == "answer":
            self.answer_entry(found.ids[0], alternatives=found.ids[1:], sure=True)
            return True
        if found.status == "likely":
            self.answer_entry(found.ids[0], alternatives=found.ids[1:])
            return True
        if found.status == "ambiguous" and found.ids:
            self.say(
                self.msg("kb_did_you_mean"),
                [Button(bid.kb(i), self.entry_title(i)) for i in found.ids],
            )
            return True
        # Not sure enough to answer, but the words point somewhere: those topics are a tap
        # away, beside the person and the menu, instead of a dead end.
        topics = [Button(bid.kb(i), self.entry_title(i)) for i in found.ids]
        if quiet:
            if topics and _looks_like_question(text) and not self.personal_blocked():
                self.say(
                    self.msg("kb_no_match_topics"), [*topics, self.btn(bid.CONTACT, "btn_human")]
                )
                return True
            return False
        self.event("kb_unanswered")
        buttons = [self.btn(bid.MENU, "btn_menu")]
        if self.personal_blocked():
            # Under 16 nothing the user typed is kept, not even a question.
            self.say(self.msg("kb_no_match_young"), [*topics, *buttons])
            return False
        self.effects.append(Unanswered(scrub(text)[:MAX_UNANSWERED], self.lang))
        buttons.insert(0, self.btn(bid.CONTACT, "btn_human"))
        if topics:
            kept = f"{self.msg('kb_no_match_topics')} {self.msg('kb_question_kept')}"
            self.say(kept, [*topics, *buttons])
        else:
            self.say(self.msg("kb_no_match"), buttons)
        return False

    def entry_title(self, entry_id: str) -> str:
        return self.content.knowledge[entry_id].title.get(self.lang)

    def answer_entry(
        self, entry_id: str, alternatives: Sequence[str] = (), sure: bool = False
    ) -> None:
        """The entry's answer with its source; with ``alternatives`` the other candidates as
        the first buttons, and unless ``sure`` (a likely match) a light hedge first."""
        if entry_id == "contact" and self.state.mode != "summary" and not self.in_contact():
            # "Hoe kan ik iemand spreken?" is a request, not a question: start it, no loop.
            self.event("kb_answer", entry=entry_id)
            self.start_contact()
            return
        entry = self.content.knowledge[entry_id]
        linked = next(((s.label, s.url) for s in entry.sources if s.url), None)
        # The linked source by name, the others counted: a list of labels would push the
        # answer past a phone screen (all of them are in the YAML and `mkbroute ask`).
        labels = list(
            dict.fromkeys([*([linked[0]] if linked else []), *(s.label for s in entry.sources)])
        )
        sources = labels[0] + (f" (+{len(labels) - 1})" if len(labels) > 1 else "")
        body = f"{entry.answer.get(self.lang)}\n\n{self.msg('kb_source', sources=sources)}"
        if alternatives and not sure:
            body = f"{self.msg('kb_likely')}\n\n{body}"
        if linked is not None:
            body += f"\n{self.msg('kb_read_more', url=linked[1])}"
        if self.state.asking:
            body += f"\n\n{self.msg('kb_more')}"
        buttons = [
            Button(bid.kb(i), self.entry_title(i))
            for i in topics_after(entry_id, alternatives, self.content.knowledge)
        ]
        if entry_id != "contact":
            buttons.append(self.btn(bid.CONTACT, "btn_human"))
        if not self.open_step() and self.state.mode != "summary":
            buttons.append(self.btn(bid.MENU, "btn_menu"))
        self.say(body, buttons)
        self.event("kb_answer", entry=entry_id)

    # ----------------------------------------------------------------- everyday chat

    def small_talk(self, text: str, opened: tuple[Flow, Step] | None) -> bool:
        """Greetings, thanks and "what can I ask?" get a friendly reply, never "begreep ik niet".

        A typed answer wins: "ok" to "Wil je dat iemand contact opneemt?" means yes.
        """
        if opened is not None and _match_choice(opened[1], text)[0] == "answer":
            return False
        query = fold(text)
        m = self.messages
        if not query:
            return False
        for phrases, key in (
            (m.greeting_phrases, "greeting_reply"),
            (m.thanks_phrases, "thanks_reply"),
        ):
            if query in _folded(phrases):
                if opened or self.state.mode == "summary":
                    self.say(self.msg(key))
                    self.reprompt()
                else:
                    self.say(self.msg(key), self.menu_buttons())
                return True
        if query in _folded(m.topics_phrases):
            self.topics("")
            return True
        return False

    def topics(self, group: str) -> None:
        """The topic overview per audience, then a group's frequently asked entries."""
        ids = self.messages.topics.get(group)
        if not ids:
            buttons = [
                Button(bid.topics(f.id), f.title.get(self.lang))
                for f in self.content.audiences
                if f.id in self.messages.topics
            ]
            if "algemeen" in self.messages.topics:
                buttons.append(self.btn(bid.topics("algemeen"), "topics_general"))
            self.say(self.msg("topics_intro"), buttons)
        else:
            buttons = [
                Button(bid.kb(i), self.entry_title(i)) for i in ids if i in self.content.knowledge
            ]
            self.say(self.msg("topics_group"), [*buttons, self.btn(bid.TOPICS, "btn_topics")])
        self.state = replace(
            self.state, asking=self.open_step() is None and self.state.mode != "summary"
        )
        self.reprompt()

    def choose_audience(self, flow: Flow) -> None:
        """Start a questionnaire; halfway through another one, ask before erasing the answers."""
        opened = self.open_step()
        if opened and opened[0].kind == "audience" and self.state.answers:
            self.say(
                self.msg("switch_confirm", choice=flow.title.get(self.lang)),
                [
                    Button(bid.switch(flow.id), self.msg("btn_switch")),
                    self.btn(bid.RESUME, "btn_resume"),
                ],
            )
            return
        self.start_flow(flow)

    # ----------------------------------------------------------------- routes

    def route_name(self, pilot: Pilot) -> str:
        return f"{pilot.name.get(self.lang)} ({self.msg(f'route_{pilot.status}')})"

    def routes_line(self, flow: Flow) -> str:
        """After a verdict: the routes that fit the answers, or honestly none."""
        r = flow.routing
        assert r is not None
        a = self.state.answers
        found = find_routes(self.content.pilots, a.get(r.field), a.get(r.level), a.get(r.province))
        if not found:
            return self.msg("routes_none")
        return self.msg("routes_found", routes="; ".join(self.route_name(p) for p in found[:3]))

    def route_finder(self, text: str, about_routes: bool = False) -> bool:
        """ "Waar kan ik dit doen?", "is er een mkb-route in de logistiek?": the routes I know
        for the field and region named in the question, else those of the user's answers.

        ``about_routes``: the knowledge base found a question about routes ("is er zoiets in
        de zorg in Limburg?"); without a route phrase it is the finder's when it names a
        field or a region.
        """
        query = f" {fold(text)} "
        asked = any(f" {p} " in query for p in _folded(self.messages.route_phrases))
        if not asked and not about_routes:
            return False
        flows = [f for f in self.content.audiences if f.routing is not None]
        audience = self.content.flows.get(self.state.audience or "")
        if audience in flows:
            flows.insert(0, flows.pop(flows.index(audience)))
        field = province = level = None
        for f in flows:
            assert f.routing is not None
            field = field or _named(_step(f, f.routing.field), query)
            province = province or _named(_step(f, f.routing.province), query)
        if not asked and not (field or province):
            return False
        if audience is not None and audience.routing is not None:
            field = field or self.state.answers.get(audience.routing.field)
            province = province or self.state.answers.get(audience.routing.province)
            level = self.state.answers.get(audience.routing.level)
        what = ""
        if field and (label := self.choice_label(flows, "field", field)):
            what += " " + self.msg("route_in_field", choice=label)
        if province and (label := self.choice_label(flows, "province", province)):
            what += " " + self.msg("route_in_region", choice=label)
        found = find_routes(self.content.pilots, field, level, province)
        if found:
            lines = [self.msg("routes_list", what=what)]
            lines += [f"• {self.route_name(p)}" for p in found[:5]]
            lines += ["", self.msg("routes_more")]
            self.say("\n".join(lines), [self.btn(bid.CONTACT, "btn_human")])
        else:
            self.say(self.msg("routes_list_none", what=what), [self.btn(bid.CONTACT, "btn_human")])
        self.event("routes_shown", found=len(found))
        return True

    def choice_label(self, flows: list[Flow], key: str, value: str) -> str | None:
        for f in flows:
            step = _step(f, getattr(f.routing, key)) if f.routing else None
            choice = next((c for c in step.choices if c.id == value), None) if step else None
            if choice is not None:
                return choice.label.get(self.lang)
        return None

    # ----------------------------------------------------------------- a person, from anywhere

    def wants_person(self, text: str) -> bool:
        query = f" {fold(text)} "
        return any(f" {p} " in query for p in _folded(self.messages.human_phrases))

    def in_contact(self) -> bool:
        return self.state.mode == "flow" and self.state.flow == self.content.contact_flow.id

    def start_contact(self) -> None:
        """Start the contact flow directly: consent, name, channel, question, summary."""
        if self.in_contact() or self.state.mode == "summary":
            self.say(self.msg("contact_busy"))
            self.reprompt()
            return
        if self.personal_blocked():
            self.say(self.msg("contact_young"), self.menu_buttons())
            return
        s = self.state
        if s.lead_ref or s.audience is None:
            # A new request: after a saved lead, or without any questionnaire.
            s = ConversationState(lang=self.lang, run=s.run + 1)
        outcome = s.outcome or {"verdict": "vraag", "reasons": [], "contact": True}
        self.state = replace(
            s, outcome=outcome, contact={}, consent=None, history=(), editing=False, asking=False
        )
        self.event("contact_requested", flow=self.state.audience or "contact")
        self.say(self.msg("contact_intro"))
        contact = self.content.contact_flow
        offer = next((i for i, st in enumerate(contact.steps) if st.role == "offer"), -1)
        self.goto(contact, _skip(contact, offer + 1, self.facts()))

    # ----------------------------------------------------------------- the questionnaire

    def start_flow(self, flow: Flow) -> None:
        self.state = ConversationState(
            lang=self.lang, mode="flow", audience=flow.id, run=self.state.run + 1, flow=flow.id
        )
        self.event("flow_started", flow=flow.id)
        if flow.intro is not None:
            link = flow.intro_link
            more = [Button(bid.kb(link), self.entry_title(link))] if link else []
            self.say(flow.intro.get(self.lang), more)
        self.goto(flow, _first(flow, self.facts()))

    def goto(self, flow: Flow, step: Step | None) -> None:
        """Open ``step`` of ``flow``, or finish the flow when there is no next step."""
        if step is None:
            if flow.kind == "audience":
                self.finish_audience(flow)
            else:
                self.state = replace(self.state, mode="summary", flow=flow.id, step=None)
                self.summary()
            return
        if step.personal and self.personal_blocked():
            self.under16("contact_young" if flow.kind == "contact" else "under16_info")
            return
        self.state = replace(self.state, mode="flow", flow=flow.id, step=step.id)
        self.ask(flow, step)

    def ask(self, flow: Flow, step: Step) -> None:
        buttons = [Button(bid.choice(step.id, c.id), c.label.get(self.lang)) for c in step.choices]
        if step.role == "consent":
            buttons.append(self.btn(bid.PRIVACY, "btn_privacy"))
        if step.optional:
            buttons.append(self.btn(bid.SKIP, "btn_skip"))
        if self.state.history and not self.state.editing:
            buttons.append(self.btn(bid.BACK, "btn_back"))
        self.say(step.ask.get(self.lang), buttons)

    def choice_button(self, step_id: str, choice_id: str) -> None:
        opened = self.open_step()
        if opened is None or opened[1].id != step_id:
            self.stale()
            return
        flow, step = opened
        if choice_id not in {c.id for c in step.choices}:
            self.stale()
            return
        self.answer(flow, step, choice_id)

    def answer(self, flow: Flow, step: Step, value: str, number: int | None = None) -> None:
        s = self.state
        if step.personal and not value:
            s = replace(s, contact={k: v for k, v in s.contact.items() if k != step.id})
        elif step.personal:
            s = replace(s, contact={**s.contact, step.id: value})
        else:
            s = replace(s, answers={**s.answers, step.id: value})
        if not s.editing:
            s = replace(s, history=(*s.history, f"{flow.id}:{step.id}"))
        self.state = s
        if step.role == "offer":
            if value == "nee":
                self.finish_contact("contact_declined")
                return
            self.event("contact_accepted", flow=self.state.audience)
        if step.role == "consent":
            if value == "nee":
                self.finish_contact("consent_declined")
                return
            at = self.now.astimezone(dt.UTC).isoformat(timespec="seconds")
            version = self.messages.privacy_version
            self.state = replace(self.state, consent={"version": version, "at": at})
            self.effects.append(RecordConsent(version, at))
            self.event("consent_given", flow=self.state.audience)
        if self.state.editing:
            self.state = replace(self.state, editing=False, mode="summary", step=None)
            self.summary()
            return
        nxt = _after(flow, step, self.facts())
        if number is not None and nxt is not None:
            # "ik ben 15" answered "jonger dan 18"; it answers "ben je 16 of 17?" as well.
            fits = [c.id for c in nxt.choices if c.range and c.range[0] <= number <= c.range[1]]
            if len(fits) == 1:
                self.answer(flow, nxt, fits[0], number)
                return
        self.goto(flow, nxt)

    def finish_contact(self, key: str) -> None:
        self.state = replace(
            self.state, mode="done", flow=None, step=None, contact={}, consent=None
        )
        self.say(self.msg(key), self.menu_buttons())

    def personal_blocked(self) -> bool:
        audience = self.content.flows.get(self.state.audience or "")
        out = audience.outcome if audience else None
        if out is not None and self.holds(out.no_personal_when, default=False):
            return True
        return self.holds(self.content.contact_flow.no_personal_when, default=False)

    def under16(self, key: str = "under16_info") -> None:
        self.state = replace(
            self.state, mode="done", flow=None, step=None, contact={}, consent=None
        )
        self.say(self.msg(key), self.menu_buttons())

    def labels(self, flow: Flow) -> dict[str, str]:
        """The user's choices as words, for reasons that name the user's own answers."""
        out: dict[str, str] = {}
        for step in flow.steps:
            value = self.state.answers.get(step.id)
            choice = next((c for c in step.choices if c.id == value), None)
            if choice is not None:
                out[step.id] = choice.label.get(self.lang)
        return out

    def notes(self, notes: Sequence[Note], labels: dict[str, str]) -> list[str]:
        return [fill(n.text.get(self.lang), **labels) for n in notes if self.holds(n.when)]

    def finish_audience(self, flow: Flow) -> None:
        out = flow.outcome
        assert out is not None
        verdict = next(r.verdict for r in out.verdicts if self.holds(r.when))
        # Reasons and next steps may depend on the verdict itself.
        self.state = replace(self.state, outcome={"verdict": verdict})
        labels = self.labels(flow)
        reasons = self.notes(out.reasons, labels)
        steps = self.notes(out.next_steps, labels)
        if verdict != "nog_niet" and flow.routing is not None:
            steps.append(self.routes_line(flow))
        why = "\n".join(
            [
                self.msg("outcome_header", verdict=self.msg(f"verdict_{verdict}")),
                "",
                self.msg("outcome_reasons"),
                *(f"• {r}" for r in reasons),
            ]
        )
        todo = "\n".join([self.msg("outcome_next"), *(f"• {n}" for n in steps)])
        # One message when it fits a phone screen, else the reasons and the next steps apart.
        for part in [f"{why}\n\n{todo}"] if len(why) + len(todo) + 2 <= MAX_REPLY else [why, todo]:
            self.say(part)
        offer = (
            verdict in ("geschikt", "mogelijk")
            and self.holds(out.contact_when)
            and not self.holds(out.no_personal_when, default=False)
        )
        self.state = replace(
            self.state,
            outcome={"verdict": verdict, "reasons": reasons, "contact": offer},
            mode="done",
            flow=None,
            step=None,
        )
        self.event("outcome", flow=flow.id, verdict=verdict, reasons=reasons)
        if verdict != "nog_niet":
            forward = next((f for f in out.forward if self.holds(f.when)), None)
            self.benefits(out, labels, forward.intro.get(self.lang) if forward else "")
            if forward is not None:
                # On its own, so that forwarding it does not forward the verdict too.
                self.say(forward.text.get(self.lang))
        if offer:
            self.event("contact_offered", flow=flow.id)
            contact = self.content.contact_flow
            self.goto(contact, _first(contact, self.facts()))
        elif self.holds(out.no_personal_when, default=False):
            self.say(self.msg("under16_info"), self.menu_buttons())
        else:
            # "Past nu nog niet" is no dead end: a person can still think along.
            self.say(
                self.msg("outcome_contact_anyway"),
                [
                    self.btn(bid.CONTACT, "btn_human"),
                    self.btn(bid.RESTART, "btn_restart"),
                    self.btn(bid.MENU, "btn_menu"),
                ],
            )

    def benefits(self, out: Outcome, labels: dict[str, str], then: str = "") -> None:
        """What the route gives this user, with buttons to the answers that go deeper;
        ``then`` introduces the forwardable message that follows."""
        told = self.notes(out.benefits, labels)[:3]
        links = [ln.entry for ln in out.links if self.holds(ln.when)][:3]
        lines = [self.msg("outcome_benefits"), *(f"• {b}" for b in told)] if told else []
        if then:
            lines += ["", then] if lines else [then]
        if lines:
            self.say("\n".join(lines), [Button(bid.kb(e), self.entry_title(e)) for e in links])

    # ----------------------------------------------------------------- navigation

    def back(self) -> None:
        if self.state.mode == "done" and self.state.lead_ref:
            self.say(self.msg("lead_already", lead_ref=self.state.lead_ref), self.menu_buttons())
            return
        if self.state.mode not in ("flow", "summary", "done") or not self.state.history:
            if self.open_step():
                self.say(self.msg("back_at_start"))
                self.reprompt()
            else:
                self.say(self.msg("nothing_open"), self.menu_buttons())
            return
        *rest, last = self.state.history
        flow_id, _, step_id = last.partition(":")
        flow = self.content.flows.get(flow_id)
        step = _step(flow, step_id) if flow else None
        if flow is None or step is None:
            self.restart()
            return
        answers = {k: v for k, v in self.state.answers.items() if k != step_id}
        contact = {k: v for k, v in self.state.contact.items() if k != step_id}
        s = replace(
            self.state, history=tuple(rest), answers=answers, contact=contact, editing=False
        )
        if flow.kind == "audience":
            # Back into the questionnaire: the verdict and anything given for it no longer hold.
            s = replace(s, outcome=None, contact={}, consent=None)
        elif step.role in ("offer", "consent"):
            s = replace(s, contact={}, consent=None)
        self.state = replace(s, mode="flow", flow=flow.id, step=step.id)
        self.ask(flow, step)

    def restart(self) -> None:
        flow = self.content.flows.get(self.state.audience or "")
        if flow is None:
            self.menu()
            return
        self.say(self.msg("restarted"))
        self.start_flow(flow)

    def stop(self) -> None:
        if self.state.mode in ("flow", "summary"):
            self.event("flow_stopped", flow=self.state.audience)
        self.state = ConversationState(lang=self.lang, run=self.state.run, lead_ref=None)
        self.say(self.msg("stopped"), self.menu_buttons())

    # ----------------------------------------------------------------- summary and lead

    def summary(self, short: str = "") -> None:
        """The details to check before sending; with ``short``, only that line and the
        buttons (after a side question, the whole summary again would bury the answer)."""
        contact = self.content.contact_flow
        audience = self.content.flows.get(self.state.audience or "")
        lines = [self.msg("summary_header")]
        buttons = [self.btn(bid.CONFIRM, "btn_confirm")]
        for step in contact.steps:
            if step.id in self.state.contact:
                label = (step.label or step.ask).get(self.lang)
                lines.append(f"{label}: {self.state.contact[step.id]}")
                buttons.append(self.btn(bid.edit(step.id), "btn_edit", field=label))
            elif step.optional and step.input:
                buttons.append(self.btn(bid.edit(step.id), "btn_add_question"))
        pilot = self.content.pilots[self.route().pilot]
        key = {"likely": "summary_route_likely", "linked": "summary_route_linked"}.get(
            pilot.status, "summary_route"
        )
        lines += ["", self.msg(key, pilot=pilot.name.get(self.lang))]
        if audience is not None:
            labels = self.labels(audience)
            if labels:
                lines += ["", self.msg("summary_answers")]
            for step in audience.steps:
                if step.id in labels:
                    lines.append(f"{(step.label or step.ask).get(self.lang)}: {labels[step.id]}")
        buttons.append(self.btn(bid.CANCEL, "btn_cancel"))
        self.say(short or "\n".join(lines), buttons)

    def route(self) -> Route:
        """Where a lead of this session goes; without a questionnaire, to the fallback."""
        audience = self.content.flows.get(self.state.audience or "")
        if audience is None:
            fallback = self.content.fallback_pilot.id
            return Route(fallback, ("contactverzoek zonder vragenlijst",), 0.0)
        return route(self.content.pilots, audience, self.state.answers)

    def edit(self, step_id: str) -> None:
        contact = self.content.contact_flow
        step = _step(contact, step_id)
        if step is None or (step.id not in self.state.contact and not step.optional):
            self.summary()
            return
        self.state = replace(self.state, mode="flow", flow=contact.id, step=step.id, editing=True)
        self.ask(contact, step)

    def confirm(self) -> None:
        if self.state.mode != "summary":
            if self.state.lead_ref:
                self.say(
                    self.msg("lead_already", lead_ref=self.state.lead_ref), self.menu_buttons()
                )
            else:
                self.stale()
            return
        audience = self.content.flows.get(self.state.audience or "")
        if self.state.consent is None or self.state.outcome is None:
            self.restart()
            return
        out = audience.outcome if audience else None
        contact = self.content.contact_flow
        own = {s.id for s in audience.steps} if audience else set()
        chosen = self.route()
        minor = self.holds(out.minor_when if out else None, default=False) or self.holds(
            contact.minor_when, default=False
        )
        self.effects.append(
            CreateLead(
                run=self.state.run,
                flow=audience.id if audience else contact.id,
                verdict=str(self.state.outcome["verdict"]),
                reasons=tuple(self.state.outcome.get("reasons", ())),
                answers={k: v for k, v in self.state.answers.items() if k in own},
                contact=dict(self.state.contact),
                minor=minor,
                consent_version=self.state.consent["version"],
                consent_at=self.state.consent["at"],
                lang=self.lang,
                pilot=chosen.pilot,
                routing=chosen.reasons,
            )
        )
        # The lead now holds the personal data; the session keeps none of it.
        self.state = replace(self.state, mode="done", flow=None, step=None, contact={}, history=())
        pilot = self.content.pilots[chosen.pilot].name.get(self.lang)
        self.say(self.msg("lead_confirmed", pilot=pilot), self.menu_buttons())


# --------------------------------------------------------------------- helpers


def _step(flow: Flow, step_id: str) -> Step | None:
    return next((s for s in flow.steps if s.id == step_id), None)


def _first(flow: Flow, facts: dict[str, str]) -> Step | None:
    return _skip(flow, 0, facts)


def _skip(flow: Flow, index: int, facts: dict[str, str]) -> Step | None:
    """The first step from ``index`` on whose ``when`` holds."""
    while 0 <= index < len(flow.steps):
        step = flow.steps[index]
        if step.when is None or evaluate(step.when, facts):
            return step
        index += 1  # a skipped step's own "next" does not apply: it was never answered
    return None


def _target(flow: Flow, step: Step, index: int, facts: dict[str, str]) -> int:
    for goto in step.next:
        if goto.when is None or evaluate(goto.when, facts):
            if goto.goto == "end":
                return -1
            return next(i for i, s in enumerate(flow.steps) if s.id == goto.goto)
    return index + 1


def _after(flow: Flow, step: Step, facts: dict[str, str]) -> Step | None:
    index = next(i for i, s in enumerate(flow.steps) if s.id == step.id)
    return _skip(flow, _target(flow, step, index, facts), facts)


def topics_after(
    entry_id: str, alternatives: Sequence[str], knowledge: Mapping[str, Entry]
) -> list[str]:
    """The knowledge buttons under an answer: the alternatives of a likely match first, then
    the entry's related topics, three in all (the contact has a button of its own)."""
    related = [
        r
        for r in knowledge[entry_id].related
        if r in knowledge and r != "contact" and r not in alternatives
    ]
    return [*alternatives, *related[: max(0, 3 - len(alternatives))]]


def _looks_like_question(text: str) -> bool:
    words = fold(text).split()
    if text.rstrip().endswith("?") and len(words) >= 2:
        return True
    return len(words) >= 3 and words[0] in _QUESTION_WORDS


# A clause that opens as a question: a question word, or a verb with its subject ("kan ik",
# "is er", "do i"); "en heb geen havo" is a statement, "kan ik toch instromen" a question.
_CLAUSES = re.compile(r"[,;.!:]|\s(?:en|maar|of|and|but|or)\s")
_INTERROGATIVES = frozenset(
    (
        "wat hoe wie waar wanneer waarom welke hoeveel hoelang what how who where when why which"
    ).split()
)
_SUBJECTS = frozenset("ik je jij u we wij er het dat dit i you there it this that".split())


def _asks_too(text: str) -> bool:
    """Whether a typed answer goes on to ask something ("ik ben 44, kan ik nog instromen?")."""
    for clause in _CLAUSES.split(text.casefold())[1:]:
        words = fold(clause).split()
        if len(words) >= 3 and (
            words[0] in _INTERROGATIVES or (words[0] in _QUESTION_WORDS and words[1] in _SUBJECTS)
        ):
            return True
    return False


def _choice_forms(choice: Choice) -> list[str]:
    return [choice.label.nl, choice.label.en, *choice.also.nl, *choice.also.en]


@lru_cache(maxsize=32)
def _folded(phrases: AltTexts) -> frozenset[str]:
    """A content phrase list in matching form, folded once rather than on every message."""
    return frozenset(fold(p) for p in (*phrases.nl, *phrases.en))


def _named(step: Step | None, query: str) -> str | None:
    """The choice of ``step`` a question names as whole words ("in de logistiek", "Tilburg")."""
    if step is None:
        return None
    for choice in step.choices:
        for form in map(fold, _choice_forms(choice)):
            if len(form) >= 3 and form not in _FUNCTION_WORDS and f" {form} " in query:
                return choice.id
    return None


def _numbers(query: str) -> list[int]:
    """Whole numbers in the text; "1.200" and "1,200" are one thousand two hundred."""
    return [int(re.sub(r"\D", "", n)) for n in _NUMBER.findall(query)]


def _match_choice(step: Step, text: str) -> tuple[str, tuple[str, ...], int | None]:
    """Map typed text to a choice: ("answer", (id,)), ("suggest", ids) or ("none", ()).

    The third value is the number a ranged choice was picked by ("ik ben 17"), if any. Only an
    exact label or alias, a number inside a choice's range, or a close match of a form of at
    least four characters decides; anything less is a suggestion or nothing, never a guess.
    """
    query = fold(text)
    if not query:
        return "none", (), None
    ranged = [c for c in step.choices if c.range]
    numbers = _numbers(text.casefold())
    if ranged and len(numbers) == 1:
        hit = [c.id for c in ranged if c.range and c.range[0] <= numbers[0] <= c.range[1]]
        if hit:
            return "answer", (hit[0],), numbers[0]
    forms: list[tuple[str, str]] = [
        (fold(f), c.id) for c in step.choices for f in _choice_forms(c)
    ]
    exact = {cid for form, cid in forms if form == query}
    if len(exact) == 1:
        return "answer", (exact.pop(),), None
    if query.isdigit():
        # A bare "3" could be the third button, a level or a count: ask, never guess.
        return "none", (), None
    best: dict[str, float] = {}
    words = f" {query} "
    for form, cid in forms:
        score = 0.0
        if len(form) >= _MIN_FUZZY and len(query) >= _MIN_FUZZY:
            score = fuzz.ratio(query, form)
        if f" {form} " in words and form != query:
            # The form stands as whole words in a longer answer ("ik woon in utrecht"); a
            # short or common word ("ja hoor") is only a suggestion.
            strong = len(form) >= _MIN_FUZZY and form not in _FUNCTION_WORDS
            score = max(score, 92.0 if strong else 75.0)
        elif words in f" {form} ":
            score = max(score, 75.0)  # "ja" to "ja, bij een mkb-bedrijf" / "ja, bij een groot"
        elif len(query) >= _MIN_FUZZY and form.startswith(query):
            score = max(score, 80.0)  # "tech" for "technology": a suggestion, never an answer
        elif len(form) < _MIN_FUZZY or len(query) < _MIN_FUZZY:
            # Short forms may only be suggested, and only when nearly the same ("jaa" -> "ja").
            score = max(score, 75.0 if fuzz.ratio(query, form) >= 80 else 0.0)
        if score < 75:
            score = 0.0  # "tilburg" is not "limburg"
        best[cid] = max(best.get(cid, 0.0), score)
    ranked = sorted(
        ((cid, s) for cid, s in best.items() if s > 0), key=lambda kv: kv[1], reverse=True
    )
    if not ranked:
        return "none", (), None
    top = ranked[0][1]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if top >= 88 and top - second >= 10:
        return "answer", (ranked[0][0],), None
    return "suggest", tuple(cid for cid, s in ranked[:3] if top - s <= 15), None
