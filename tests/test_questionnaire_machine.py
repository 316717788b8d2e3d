"""T14, second half: a hypothesis state machine over the questionnaire, on the Telegram path.

Two users talk to the offline application (``tests/test_update_fuzz.Harness``: PTB's real
``process_update``, every outgoing request checked against the Bot API). Rules: a valid answer
(a button of the open question, a fitting typed name/e-mail/phone/company, "confirm" on the
summary, an audience from the menu), an invalid answer (hostile text or a forged button),
``/start``, ``/menu``, ``/stop``, ``/privacy``, the back button (or ``/terug``), ``/verwijder``
with "erase:yes", a restart of the process (a new Application on the same SQLite file) and the
redelivery of the last update (the same ``update_id`` again).

Invariants after every step: the database checks of ``store_problems`` (at most one open run
per user and no lead for an open run, one lead per run, every String column within its length,
contact data within the caps of flows/contact.yaml and free of control, bidi and zero-width
characters, no contact data without consent), and every run the bot confirmed has exactly one
lead. ``/privacy`` keeps the progress; a redelivered update sends nothing to the user and
changes no row.

Bounded for the default suite: 30 machines of at most 40 steps, derandomized (about 30 s).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, note
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import func, select

from bot.content.bundle import Content
from bot.content.loader import load_content
from bot.engine.types import ConversationState, StateError
from bot.store.models import Base, LeadRow, SessionRow
from tests.conftest import ROOT
from tests.support.answers import AVANS, STUDENT
from tests.test_telegram import settings
from tests.test_update_fuzz import (
    COMPANIES,
    EMAILS,
    NAMES,
    PHONES,
    Harness,
    callback_data,
    running,
    text_message,
    texts,
)

USERS = (31001, 31002)
AUDIENCES = ("student", "werkende", "werkgever")
INPUT_STEPS = {"naam", "bedrijf", "email", "telefoon"}
GOOD = {*STUDENT, *AVANS, "c:kanaal:email", "c:kanaal:telefoon"}


@functools.cache
def shipped_content() -> Content:
    return load_content(ROOT)


class Questionnaire(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="mkbroute-machine-"))
        self.stack = contextlib.ExitStack()
        config = settings(self.tmp, flood_burst=1000)
        self.h: Harness = self.stack.enter_context(running(shipped_content(), config))
        self.last: dict[str, Any] | None = None
        self.last_reached_runtime = False
        self.confirmed: dict[str, set[str]] = {}  # user key -> lead references the bot gave
        self.since_restart = 0
        # Telegram's update ids keep rising across our restarts (a new emulator starts at 1).
        self.update_ids = itertools.count(1)

    def teardown(self) -> None:
        self.stack.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ helpers

    def feed(self, update: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        update["update_id"] = next(self.update_ids)
        self.last = update
        self.since_restart += 1
        logged = len(self.h.log.records)
        made = self.h.feed(update)
        self.last_reached_runtime = self.h.handled(update["update_id"], logged)
        for r in self.h.log.records[logged:]:
            ref = getattr(r, "lead_ref", None)
            if ref:
                user = update.get("message", update.get("callback_query", {}))["from"]["id"]
                self.confirmed.setdefault(f"tg:{user}", set()).add(str(ref))
                event("a run was confirmed")
        return made

    def say(self, user: int, text: str) -> None:
        self.feed(text_message(self.h.state, user, text, "nl"))

    def press(self, user: int, data: str) -> None:
        """Press ``data`` on the latest message that offers it (a forged press if none does)."""
        sent = [s for s in self.h.state.sent if s.chat_id == user]
        offering = [s for s in sent if any(d == data for _, d in s.buttons)]
        message_id = (offering or sent)[-1].message_id if sent else 1
        self.feed(self.h.state.callback_update(user, message_id, data, lang="nl"))

    def latest_buttons(self, user: int) -> list[str]:
        keyboards = [s for s in self.h.state.sent if s.chat_id == user and s.buttons]
        return [d for _, d in keyboards[-1].buttons] if keyboards else []

    def run(self, coro: Any) -> Any:
        return self.h.runner.run(coro)

    def session(self, user: int) -> ConversationState | None:
        async def load() -> ConversationState | None:
            runtime = self.h.bot.running.conversation
            assert runtime is not None
            async with runtime.sessionmaker() as db:
                row = await db.get(SessionRow, f"tg:{user}")
            if row is None:
                return None
            try:
                return ConversationState.from_json(row.data)
            except StateError:
                return None

        result: ConversationState | None = self.run(load())
        return result

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to compare before and after a redelivery."""

        async def dump() -> dict[str, list[tuple[Any, ...]]]:
            runtime = self.h.bot.running.conversation
            assert runtime is not None
            out = {}
            async with runtime.sessionmaker() as db:
                for table in Base.metadata.sorted_tables:
                    rows = (await db.execute(select(table))).all()
                    out[table.name] = sorted((tuple(r) for r in rows), key=repr)
            return out

        result: dict[str, list[tuple[Any, ...]]] = self.run(dump())
        return result

    # ------------------------------------------------------------------ rules

    @rule(
        user=st.sampled_from(USERS),
        choices=st.lists(st.integers(0, 255), min_size=3, max_size=14),
        data=st.data(),
    )
    def answer_valid(self, user: int, choices: list[int], data: st.DataObject) -> None:
        """What a cooperative user does next, a few times in a row: answer the open question,
        confirm the summary, or pick a questionnaire from the menu."""
        for choice in choices:
            name = data.draw(
                st.one_of(
                    st.sampled_from(NAMES),
                    st.text(st.characters(categories=["Lu", "Ll", "Lo", "Mn"]), min_size=2),
                )
            )
            email = data.draw(st.one_of(st.sampled_from(EMAILS), st.emails().map(str)))
            self.answer(user, choice, name, email)

    # Cooperative users are the common case: the same rule twice doubles its weight, so that
    # some runs get through the questionnaire, the consent and the summary to a lead.
    answer_valid_again = answer_valid

    def answer(self, user: int, choice: int, name: str, email: str) -> None:
        s = self.session(user)
        typed = {
            "naam": name,
            "bedrijf": COMPANIES[choice % len(COMPANIES)],
            "email": email,
            "telefoon": PHONES[choice % len(PHONES)],
        }
        if s is not None and s.mode == "flow" and s.step in INPUT_STEPS:
            self.say(user, typed[s.step])
            return
        if s is not None and s.mode == "summary":
            self.press(user, "confirm")
            return
        if s is not None and s.mode == "flow" and s.step:
            options = [d for d in self.latest_buttons(user) if d.startswith(f"c:{s.step}:")]
            # Half the time the answer of a known path to a lead (tests/test_telegram.py),
            # otherwise any option (which may end in "not yet" or the under-16 notice).
            good = [d for d in options if d in GOOD]
            if choice % 2 == 0 and good:
                options = good
            if options:
                self.press(user, options[choice % len(options)])
                return
        self.press(user, f"menu:{AUDIENCES[choice // 2 % len(AUDIENCES)]}")

    @rule(user=st.sampled_from(USERS), text=texts, forged=callback_data, typed=st.booleans())
    def answer_invalid(self, user: int, text: str, forged: str, typed: bool) -> None:
        """Hostile text (often not an answer at all) or a button the bot never offered."""
        if typed:
            self.say(user, text)
        else:
            self.press(user, forged)

    @rule(user=st.sampled_from(USERS), command=st.sampled_from(["/start", "/menu", "/stop"]))
    def command(self, user: int, command: str) -> None:
        self.say(user, command)
        s = self.session(user)
        if command == "/stop" and s is not None:
            assert s.mode == "menu" and not s.contact and s.consent is None

    @rule(user=st.sampled_from(USERS))
    def privacy(self, user: int) -> None:
        """T24: /privacy works everywhere without losing progress."""
        before = self.session(user)
        self.say(user, "/privacy")
        after = self.session(user)
        if before is not None:
            assert after == before

    @rule(user=st.sampled_from(USERS), typed=st.booleans())
    def back(self, user: int, typed: bool) -> None:
        if typed or "back" not in self.latest_buttons(user):
            self.say(user, "/terug")
        else:
            self.press(user, "back")

    @rule(user=st.sampled_from(USERS))
    def erase(self, user: int) -> None:
        self.say(user, "/verwijder")
        self.press(user, next(d for d in self.latest_buttons(user) if d.startswith("erase:yes")))
        self.confirmed.pop(f"tg:{user}", None)
        assert self.session(user) is None

    @precondition(lambda self: self.since_restart >= 4)
    @rule()
    def restart_process(self) -> None:
        """A new process on the same database file: only what was committed survives."""
        before = self.snapshot()
        self.h.restart()
        event("restarted")
        self.since_restart = 0
        assert self.snapshot() == before

    @precondition(lambda self: self.last is not None)
    @rule()
    def duplicate_last_update(self) -> None:
        """Telegram delivers the last update again (same update_id): no change, and no reply
        when the runtime had processed it. (Non-text messages, such as an empty text, are
        answered by the adapter without the database, so their redelivery is answered again.)"""
        assert self.last is not None
        before = self.snapshot()
        calls = len(self.h.state.calls)
        self.h.feed(dict(self.last))
        event("redelivered")
        chat = self.chat_of(self.last)
        answered = [
            method
            for method, params in self.h.state.calls[calls:]
            if method in ("sendMessage", "sendDocument", "sendPhoto")
            and params.get("chat_id") == chat
        ]
        if self.last_reached_runtime:
            assert not answered, answered
        assert self.snapshot() == before

    @staticmethod
    def chat_of(update: dict[str, Any]) -> int:
        if "message" in update:
            return int(update["message"]["chat"]["id"])
        return int(update["callback_query"]["message"]["chat"]["id"])

    # ------------------------------------------------------------------ invariants

    @invariant()
    def store_is_sound(self) -> None:
        problems = self.h.store_problems()
        assert not problems, problems

    @invariant()
    def each_confirmed_run_has_exactly_one_lead(self) -> None:
        async def check() -> list[str]:
            runtime = self.h.bot.running.conversation
            assert runtime is not None
            wrong = []
            async with runtime.sessionmaker() as db:
                for user_key, refs in self.confirmed.items():
                    for ref in refs:
                        lead = await db.scalar(select(LeadRow).where(LeadRow.ref == ref))
                        if lead is None or lead.user_key != user_key:
                            wrong.append(f"{ref}: no lead of {user_key}")
                            continue
                        count = await db.scalar(
                            select(func.count())
                            .select_from(LeadRow)
                            .where(LeadRow.user_key == user_key, LeadRow.run == lead.run)
                        )
                        if count != 1:
                            wrong.append(f"{ref}: {count} leads for run {lead.run}")
            return wrong

        wrong: list[str] = self.run(check())
        note(f"confirmed: {self.confirmed}")
        assert not wrong, wrong


Questionnaire.TestCase.settings = hsettings(
    max_examples=30,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestQuestionnaire = Questionnaire.TestCase
