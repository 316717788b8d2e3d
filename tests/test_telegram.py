"""The Telegram adapter through PTB's real Application.process_update, with an offline bot."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from telegram import Update
from telegram.ext import Application

from bot.adapters.telegram import (
    BotData,
    FloodGuard,
    build_application,
    keyboard,
    split_text,
)
from bot.app import App
from bot.content.bundle import Content
from bot.content.commands import COMMANDS
from bot.engine.types import Button, Reply
from bot.settings import Settings
from bot.store.models import LeadRow
from tests.support.answers import AVANS, STUDENT
from tests.support.botapi import TOKEN, BotAPIState, Fault, OfflineRequest

USER = 4242
OTHER = 5151


@dataclass
class Bot:
    """An offline PTB application and the emulator state behind it."""

    app: Application  # type: ignore[type-arg]
    state: BotAPIState

    @property
    def data(self) -> BotData:
        data = self.app.bot_data
        assert isinstance(data, BotData)
        return data

    @property
    def running(self) -> App:
        """The App that post_init opened."""
        assert self.data.app is not None
        return self.data.app

    async def feed(self, update: dict[str, Any]) -> None:
        if "update_id" not in update:
            update["update_id"] = self.state.next_update_id()
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def say(self, text: str, user: int = USER, **kw: Any) -> None:
        await self.feed(self.state.message_update(user, text, **kw))

    async def press(self, data: str, user: int = USER) -> None:
        """Press the button with ``data`` on the latest message that offers it."""
        message = self.last_with(data, user)
        await self.feed(self.state.callback_update(user, message.message_id, data))

    def last_with(self, data: str, user: int = USER) -> Any:
        for sent in reversed(self.state.sent):
            if sent.chat_id == user and any(d == data for _, d in sent.buttons):
                return sent
        raise AssertionError(f"no message to {user} offers {data!r}")

    def texts(self, user: int = USER) -> list[str]:
        return [s.text for s in self.state.sent if s.chat_id == user and s.method == "sendMessage"]

    def last(self, user: int = USER) -> str:
        return self.texts(user)[-1]

    def saw(self, key: str, user: int = USER, text: str | None = None, lang: str = "nl") -> bool:
        """Is the message ``key`` of messages.yaml (placeholders filled with anything) in the
        last text sent to ``user`` (or in ``text``)? Tests say which message, not its words."""
        template = getattr(self.running.content.messages, key).get(lang)
        parts = re.split(r"\{[a-z_]+\}", template)
        pattern = ".*?".join(re.escape(part) for part in parts)
        return re.search(pattern, self.last(user) if text is None else text, re.S) is not None


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(telegram_token=SecretStr(TOKEN), data_dir=tmp_path, database_url=None, **kw)


async def _bot(content: Content, config: Settings) -> AsyncIterator[Bot]:
    state = BotAPIState()
    app = build_application(config, content, OfflineRequest(state))
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        yield Bot(app, state)
        assert app.post_shutdown is not None
        await app.post_shutdown(app)


@pytest.fixture
async def bot(content: Content, tmp_path: Path) -> AsyncIterator[Bot]:
    # Tests press buttons far faster than people do: no flood control here.
    async for b in _bot(content, settings(tmp_path, flood_burst=1000)):
        yield b


@pytest.fixture
async def flood_bot(content: Content, tmp_path: Path) -> AsyncIterator[Bot]:
    async for b in _bot(content, settings(tmp_path)):
        yield b


async def lead_count(bot: Bot) -> int:
    runtime = bot.running.conversation
    assert runtime is not None
    async with runtime.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(LeadRow)) or 0)


async def test_a_whole_conversation_to_a_lead(bot: Bot) -> None:
    await bot.say("/start")
    assert bot.saw("welcome")
    await bot.press("menu:student")
    for data in STUDENT:
        if data == "c:toestemming:ja":
            # On Telegram the consent names the channel: Telegram sees this chat too.
            assert "Telegram; dat bedrijf kan dit gesprek ook zien" in bot.last()
        await bot.press(data)
    assert "Wat is je naam?" in bot.last()
    await bot.say("Fatima el Amrani")
    await bot.press("c:kanaal:email")
    await bot.say("fatima@example.org")
    assert "Kloppen deze gegevens" in bot.last()
    await bot.press("confirm")
    assert "L-2026-" in bot.last() or "L-20" in bot.last()
    assert await lead_count(bot) == 1
    # Every press was answered, and each pressed keyboard was retired with the choice shown.
    presses = [p for m, p in bot.state.calls if m == "answerCallbackQuery"]
    assert len(presses) == len(STUDENT) + 3
    edits = [s for s in bot.state.sent if s.method == "editMessageText"]
    assert edits and all(not s.buttons for s in edits)
    assert any("✔️ 18 tot en met 20" in s.text for s in edits)


async def test_the_command_menu_is_registered_in_dutch_and_english(bot: Bot) -> None:
    dutch = bot.state.commands[None]
    english = bot.state.commands["en"]
    assert [c["command"] for c in dutch] == list(COMMANDS)
    assert {"start", "vraag", "terug", "status", "mijngegevens", "verwijder"} <= set(COMMANDS)
    assert dutch[0]["description"] != english[0]["description"]


async def test_the_language_comes_from_telegram_for_new_users(bot: Bot) -> None:
    await bot.say("/start", user=1, lang="en")
    await bot.say("/start", user=2, lang="de")
    await bot.say("/start", user=3, lang=None)
    assert "digital assistant" in bot.last(1)
    assert "digitale assistent" in bot.last(2) and "digitale assistent" in bot.last(3)
    await bot.say("/taal en", user=2)
    assert "English" in bot.last(2)


async def test_a_duplicate_update_is_processed_once(bot: Bot) -> None:
    """T3: the same update_id twice, and a lower update_id after a jump."""
    update = bot.state.message_update(USER, "/start", update_id=500)
    await bot.feed(update)
    await bot.feed(bot.state.message_update(USER, "/start", update_id=500))
    assert len(bot.texts()) == 1
    await bot.feed(bot.state.message_update(USER, "/menu", update_id=3))  # lower: still new
    assert len(bot.texts()) == 2


async def test_a_double_tap_on_confirm_creates_one_lead(bot: Bot) -> None:
    """T3: the same button twice, with different update ids."""
    await bot.say("/start")
    await bot.press("menu:student")
    for data in STUDENT:
        await bot.press(data)
    await bot.say("Sam Jansen")
    await bot.press("c:kanaal:telefoon")
    await bot.say("0612345678")
    summary = bot.last_with("confirm")
    for _ in range(2):
        await bot.feed(bot.state.callback_update(USER, summary.message_id, "confirm"))
    assert await lead_count(bot) == 1
    assert bot.saw("lead_already")


async def test_answers_in_swapped_order_do_not_skip_questions(bot: Bot) -> None:
    """T3: the answer to question 2 arrives before the answer to question 1."""
    await bot.say("/start")
    await bot.press("menu:werkgever")
    first = bot.last_with("c:medewerkers:10_49")
    await bot.feed(bot.state.callback_update(USER, first.message_id + 5, "c:doel:aannemen"))
    assert bot.saw("stale_button", text=bot.texts()[-2]) and "Hoeveel medewerkers" in bot.last()
    await bot.feed(bot.state.callback_update(USER, first.message_id, "c:medewerkers:10_49"))
    assert "Wat wil je met de Mkb-route" in bot.last()


async def test_stale_and_forged_buttons_reprompt_the_open_question(bot: Bot) -> None:
    """T4: old keyboards and forged callback data get the current question, never an error."""
    await bot.say("/start")
    await bot.press("menu:student")
    old = bot.last_with("c:leeftijd:21_plus")
    await bot.press("c:leeftijd:21_plus")
    for data in ("c:leeftijd:16_17", "c:bestaat:niet", "x" * 64, "kb:", "edit:naam", "💥"):
        await bot.feed(bot.state.callback_update(USER, old.message_id, data))
        assert "hoogste diploma" in bot.last(), data
    answered = [m for m, _ in bot.state.calls if m == "answerCallbackQuery"]
    assert len(answered) == 8


async def test_non_text_messages_get_a_friendly_answer(bot: Bot) -> None:
    photo = [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]
    for extra in (
        {"photo": photo},
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        },
        {"location": {"latitude": 52.1, "longitude": 5.1}},
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 2}},
    ):
        await bot.feed(bot.state.message_update(USER, None, extra=extra))
        assert bot.saw("non_text")
    assert len(bot.texts()) == 4


async def test_edited_messages_are_ignored(bot: Bot) -> None:
    update = bot.state.message_update(USER, "/start")
    update["edited_message"] = update.pop("message")
    update["edited_message"]["edit_date"] = update["edited_message"]["date"]
    await bot.feed(update)
    assert bot.texts() == []


async def test_groups_are_told_to_write_privately_once(bot: Bot) -> None:
    group = -100123
    await bot.say("/start", chat_id=group, chat_type="supergroup")
    await bot.say("/start", chat_id=group, chat_type="supergroup")
    await bot.say("hallo allemaal", chat_id=group, chat_type="supergroup")
    sent = [s.text for s in bot.state.sent if s.chat_id == group]
    assert len(sent) == 1 and "privégesprek" in sent[0]
    runtime = bot.running.conversation
    assert runtime is not None
    async with runtime.sessionmaker() as db:
        from bot.store.models import SessionRow

        assert await db.scalar(select(func.count()).select_from(SessionRow)) == 0


async def test_a_flood_gets_one_notice_and_does_not_block_others(flood_bot: Bot) -> None:
    """T15: 1000 messages from one user; another user completes a questionnaire meanwhile."""
    bot = flood_bot
    await bot.say("/start", user=OTHER)
    await bot.press("menu:werkgever", user=OTHER)
    other_answers = [
        "c:medewerkers:1_9",
        "c:doel:aannemen",
        "c:begeleider:ja",
        "c:sector:ict",
        "c:niveau:bachelor",
        "c:provincie:utrecht",
    ]
    for i in range(1000):
        await bot.say(f"spam {i}")
        if i % 150 == 0 and other_answers:
            await bot.press(other_answers.pop(0), user=OTHER)
    while other_answers:
        await bot.press(other_answers.pop(0), user=OTHER)
    to_flooder = bot.texts(USER)
    assert len(to_flooder) <= 15
    assert sum("veel berichten" in t for t in to_flooder) == 1
    assert "Mijn inschatting" in "\n".join(bot.texts(OTHER))
    assert not bot.state.rate_limited


async def test_admin_looking_commands_are_just_unknown_commands(bot: Bot) -> None:
    """T19 (until staff tools exist): nothing answers /leads or /export with data."""
    for command in ("/leads", "/export csv", "/stats", "/herlaad"):
        await bot.say(command)
        assert bot.saw("unknown_command")


async def test_an_unexpected_error_is_logged_without_personal_data(
    bot: Bot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = bot.running.conversation
    assert runtime is not None

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("fatima@example.org 0612345678")

    monkeypatch.setattr(runtime, "handle", broken)
    with caplog.at_level(logging.DEBUG):
        await bot.say("mijn mail is fatima@example.org")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged
    assert "fatima" not in logged and "0612345678" not in logged
    assert bot.saw("error_generic")


async def test_replies_survive_transient_send_failures(bot: Bot) -> None:
    bot.state.add_fault("sendMessage", Fault("status", 502, "Bad Gateway"))
    bot.state.add_fault("sendMessage", Fault("retry_after", 1))
    await bot.say("/start")
    assert bot.saw("welcome")


async def test_a_user_who_blocked_the_bot_does_not_break_it(bot: Bot) -> None:
    bot.state.add_fault("sendMessage", Fault("forbidden"))
    await bot.say("/start")
    assert bot.texts() == []
    await bot.say("/start")
    assert bot.saw("welcome")


def test_long_replies_are_split_under_the_limit() -> None:
    text = "\n\n".join(f"Alinea {i} " + "woord " * 300 for i in range(4))
    parts = split_text(text)
    assert len(parts) > 1 and all(0 < len(p) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )
    assert split_text("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]


def test_keyboard_layout_pairs_short_labels() -> None:
    reply = Reply(
        "?",
        (
            Button("a", "ja"),
            Button("b", "nee"),
            Button("c", "een heel lang knoplabel hier"),
            Button("d", "terug"),
        ),
    )
    markup = keyboard(reply)
    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [
        ["a", "b"],
        ["c"],
        ["d"],
    ]
    assert keyboard(Reply("no buttons")) is None


def test_flood_guard_refills_over_time() -> None:
    now = [0.0]
    guard = FloodGuard(burst=3, per_minute=60, clock=lambda: now[0])
    assert [guard.check(1) for _ in range(5)] == ["ok", "ok", "ok", "notice", "drop"]
    assert guard.check(2) == "ok"  # another user is not affected
    now[0] += 1.0
    assert guard.check(1) == "ok"
    assert guard.check(1) == "drop"
    now[0] += 61.0
    assert [guard.check(1) for _ in range(4)] == ["ok", "ok", "ok", "notice"]


CONTACTS_YAML = """
contacts:
  programmateam:
    - {name: Team, telegram_chat_id: 9100}
  avans-bouwtalent:
    - {name: Anouk, telegram_chat_id: 9001}
    - {name: Bram, telegram_chat_id: 9002}
"""


@pytest.fixture
async def claims_bot(content: Content, tmp_path: Path) -> AsyncIterator[Bot]:
    path = tmp_path / "contacts.yaml"
    path.write_text(CONTACTS_YAML, encoding="utf-8")
    config = settings(tmp_path, flood_burst=1000, contacts_file=path)
    async for b in _bot(content, config):
        yield b


async def lead_via_telegram(bot: Bot, user: int) -> str:
    await bot.say("/start", user=user)
    for data in AVANS:
        await bot.press(data, user=user)
    await bot.say("Anna Bakker", user=user)
    await bot.say("Bakker Bouw", user=user)
    await bot.press("c:kanaal:email", user=user)
    await bot.say("anna@example.org", user=user)
    await bot.press("confirm", user=user)
    text = bot.last(user)
    return text.split("referentie ")[1].split(".")[0]


async def deliver(bot: Bot, content: Content) -> None:
    from bot.handoff.channels import TelegramChannel
    from bot.handoff.dispatcher import Dispatcher

    runtime = bot.running.conversation
    assert runtime is not None
    await Dispatcher(
        runtime.sessionmaker,
        content,
        {"telegram": TelegramChannel(bot.app.bot)},
        bot.running.contacts,
    ).run_once()


async def test_the_first_contact_to_claim_owns_the_lead(claims_bot: Bot, content: Content) -> None:
    bot = claims_bot
    ref = await lead_via_telegram(bot, USER)
    await deliver(bot, content)
    cards = [s for s in bot.state.sent if s.chat_id in (9001, 9002)]
    assert len(cards) == 2 and all(ref in c.text for c in cards)
    assert all((f"claim:{ref}") in [d for _, d in c.buttons] for c in cards)
    # Someone who is not a contact person forges the button: nothing happens.
    await bot.feed(bot.state.callback_update(USER, cards[0].message_id, f"claim:{ref}"))
    # Anouk claims; Bram presses a moment later on his own card.
    await bot.feed(
        bot.state.callback_update(9001, cards[0].message_id, f"claim:{ref}", chat_id=9001)
    )
    await bot.feed(
        bot.state.callback_update(9002, cards[1].message_id, f"claim:{ref}", chat_id=9002)
    )
    runtime = bot.running.conversation
    assert runtime is not None
    async with runtime.sessionmaker() as db:
        lead = (await db.scalars(select(LeadRow).where(LeadRow.ref == ref))).one()
    assert (lead.status, lead.claimed_by) == ("claimed", "Anouk")
    edits = [
        s for s in bot.state.sent if s.method == "editMessageText" and s.chat_id in (9001, 9002)
    ]
    assert {e.chat_id for e in edits} == {9001, 9002}
    assert all("Opgepakt door Anouk" in e.text and not e.buttons for e in edits)
    assert bot.saw("handoff_already", 9002) and "Anouk" in bot.last(9002)
    await bot.say("/status")
    assert "opgepakt" in bot.last()


async def test_t30_a_contact_cannot_claim_a_lead_sent_to_someone_else(
    claims_bot: Bot, content: Content
) -> None:
    """T30: references are sequential; the programme team's contact forges "claim" and
    "decline" for Avans' lead. Refused, logged, nothing changes, and nobody is named."""
    bot = claims_bot
    ref = await lead_via_telegram(bot, USER)
    await deliver(bot, content)
    card = next(s for s in bot.state.sent if s.chat_id == 9001)
    for data in (f"claim:{ref}", f"decline:{ref}", f"declinewhy:{ref}:regio"):
        await bot.feed(bot.state.callback_update(9100, card.message_id, data, chat_id=9100))
        assert bot.saw("handoff_not_yours", 9100)
    await bot.feed(bot.state.callback_update(9001, card.message_id, f"claim:{ref}", chat_id=9001))
    await bot.feed(bot.state.callback_update(9100, card.message_id, f"claim:{ref}", chat_id=9100))
    assert "Anouk" not in bot.last(9100)
    runtime = bot.running.conversation
    assert runtime is not None
    async with runtime.sessionmaker() as db:
        lead = (await db.scalars(select(LeadRow).where(LeadRow.ref == ref))).one()
    assert (lead.status, lead.claimed_by, lead.pilot) == ("claimed", "Anouk", "avans-bouwtalent")
    assert not [s for s in bot.state.sent if s.chat_id == 9100 and ref in s.text and s.buttons]


async def test_not_for_us_hands_the_lead_to_the_programme_team(
    claims_bot: Bot, content: Content
) -> None:
    bot = claims_bot
    ref = await lead_via_telegram(bot, USER)
    await deliver(bot, content)
    card = next(s for s in bot.state.sent if s.chat_id == 9001)
    await bot.feed(
        bot.state.callback_update(9001, card.message_id, f"decline:{ref}", chat_id=9001)
    )
    ask = bot.last_with(f"declinewhy:{ref}:regio", user=9001)
    assert bot.saw("decline_ask", text=ask.text)
    await deliver(bot, content)
    assert not [s for s in bot.state.sent if s.chat_id == 9100]  # nothing moved without a reason
    await bot.feed(
        bot.state.callback_update(9001, ask.message_id, f"declinewhy:{ref}:regio", chat_id=9001)
    )
    await deliver(bot, content)
    team = [s for s in bot.state.sent if s.chat_id == 9100]
    assert team and ref in team[0].text
    assert "niet voor ons volgens Anouk (avans-bouwtalent): buiten onze regio" in team[0].text
    edits = [s for s in bot.state.sent if s.method == "editMessageText" and s.chat_id == 9001]
    assert any("niet voor ons, buiten onze regio" in e.text for e in edits)


ADMIN = 7777


@pytest.fixture
async def staff_bot(content: Content, tmp_path: Path) -> AsyncIterator[Bot]:
    import shutil

    from tests.conftest import ROOT

    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    config = settings(tmp_path, flood_burst=1000, admin_ids=(ADMIN,), content_dir=tmp_path)
    async for b in _bot(content, config):
        yield b


async def test_every_admin_command_is_guarded(staff_bot: Bot) -> None:
    """T19: an introspection test; it fails when an admin handler lacks the guard."""
    from bot.adapters.telegram.staff import ADMIN_COMMANDS, staff_handlers
    from bot.content.commands import names_of

    bot = staff_bot
    found = staff_handlers(bot.app)
    every = sorted(n for c in ADMIN_COMMANDS for n in names_of(c))
    assert sorted(c for h in found for c in h.commands) == every
    assert "reload" in every  # English names too
    for command in every:
        # Every staff handler takes a staff member's private message, and nothing else.
        cases = {
            (ADMIN, "private"): True,
            (USER, "private"): False,
            (ADMIN, "supergroup"): False,
        }
        for (user, chat_type), allowed in cases.items():
            chat_id = user if chat_type == "private" else -100777
            raw = bot.state.message_update(
                user, f"/{command}", chat_id=chat_id, chat_type=chat_type
            )
            raw["update_id"] = bot.state.next_update_id()
            update = Update.de_json(raw, bot.app.bot)
            matched = [h for h in found if h.check_update(update)]
            assert bool(matched) is allowed, (command, user, chat_type)


async def test_staff_commands_answer_only_staff(staff_bot: Bot) -> None:
    from bot.store.models import AuditRow

    bot = staff_bot
    await lead_via_telegram(bot, USER)
    await bot.say("/leads", user=USER)
    assert bot.saw("unknown_command", USER) and "L-2026" not in bot.last(USER)
    await bot.say("/leads", user=ADMIN, chat_id=-100777, chat_type="supergroup")
    assert not [s for s in bot.state.sent if s.chat_id == -100777 and "L-20" in s.text]
    await bot.say("/leads", user=ADMIN)
    assert "L-2026-000001" in bot.last(ADMIN)
    for odd in ("²", "٣", "9" * 40):  # superscript and Arabic-Indic digits, a huge number
        await bot.say(f"/leads {odd}", user=ADMIN)
        assert "L-2026-000001" in bot.last(ADMIN)
    await bot.say("/lead L-2026-000001", user=ADMIN)
    assert "Anna Bakker" in bot.last(ADMIN) and "Bezorging:" in bot.last(ADMIN)
    await bot.say("/stats", user=ADMIN)
    assert "lead_confirmed" in bot.texts(ADMIN)[-2] or "lead_confirmed" in bot.last(ADMIN)
    photo = bot.state.documents[-1][1]
    assert photo.startswith(b"\x89PNG\r\n\x1a\n")
    await bot.say("/export csv", user=ADMIN)
    name, data = bot.state.documents[-1]
    assert name.endswith(".csv") and b"Anna Bakker" in data
    # Periods as Dutch staff type them; a wrong one is refused with an example, not ignored.
    files = len(bot.state.documents)
    await bot.say("/export csv 31-02-2026", user=ADMIN)
    assert "bestaat niet" in bot.last(ADMIN) and len(bot.state.documents) == files
    await bot.say("/export csv 01-01-2099", user=ADMIN)
    assert b"Anna Bakker" not in bot.state.documents[-1][1]
    await bot.say("/export xlsx vandaag", user=ADMIN)
    name, data = bot.state.documents[-1]
    assert name.endswith(".xlsx") and b"Anna Bakker" not in data  # shared strings are zipped
    await bot.say("/stats deze week", user=ADMIN)
    table = bot.texts(ADMIN)[-1]
    assert table.startswith("Periode: ") and "t/m" in table and "<pre>" in table
    await bot.say("/stats volgend jaar", user=ADMIN)
    assert "01-09-2026" in bot.last(ADMIN)
    runtime = bot.running.conversation
    assert runtime is not None
    async with runtime.sessionmaker() as db:
        audit = [(a.action, a.detail) for a in (await db.scalars(select(AuditRow))).all()]
    assert ("admin_denied", "command=leads") in audit
    assert any(action == "export" and "rows=1" in detail for action, detail in audit)
    assert not any("Anna" in detail for _, detail in audit)


async def test_a_reload_reaches_the_lead_cards_too(content: Content, tmp_path: Path) -> None:
    """Issue 16: /herlaad swapped the conversation's content but the dispatcher kept the old
    files, so lead cards after a reload still had the old text."""
    import shutil

    from tests.conftest import ROOT

    for folder in ("flows", "knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(CONTACTS_YAML, encoding="utf-8")
    config = settings(
        tmp_path,
        flood_burst=1000,
        admin_ids=(ADMIN,),
        content_dir=tmp_path,
        contacts_file=contacts,
    )
    async for bot in _bot(content, config):
        messages = tmp_path / "flows" / "messages.yaml"
        text = messages.read_text(encoding="utf-8")
        old = "Nieuwe aanvraag {lead_ref} via de Mkb-route-assistent"
        messages.write_text(text.replace(old, "Verse aanvraag {lead_ref} (herladen)"), "utf-8")
        await bot.say("/herlaad", user=ADMIN)
        assert "Herladen: versie" in bot.last(ADMIN)
        ref = await lead_via_telegram(bot, USER)
        assert bot.running.background is not None
        await bot.running.background.dispatcher.run_once()
        card = next(s for s in bot.state.sent if s.chat_id == 9001 and ref in s.text)
        assert f"Verse aanvraag {ref} (herladen)" in card.text


async def test_reload_keeps_the_old_content_when_the_new_is_broken(
    staff_bot: Bot, tmp_path: Path
) -> None:
    bot = staff_bot
    broken = tmp_path / "flows" / "student.yaml"
    good = broken.read_text(encoding="utf-8")
    broken.write_text(good.replace("title: {nl:", "titel: {nl:", 1), encoding="utf-8")
    await bot.say("/herlaad", user=ADMIN)
    assert "Niet herladen" in bot.last(ADMIN) and "student.yaml" in bot.last(ADMIN)
    await bot.say("/start")
    assert bot.saw("welcome")
    broken.write_text(good, encoding="utf-8")
    await bot.say("/herlaad", user=ADMIN)
    assert "Herladen: versie" in bot.last(ADMIN)


async def test_my_data_arrives_as_a_message_and_a_json_file(bot: Bot) -> None:
    await bot.say("/start")
    await bot.say("/mijngegevens")
    assert "Dit is alles wat ik over je bewaar" in bot.last()
    name, data = bot.state.documents[-1]
    assert name == "mijngegevens.json" and b'"conversation"' in data


async def test_anyone_can_find_their_numeric_ids(bot: Bot) -> None:
    """Issue 17: the set-up needs numeric ids (staff, contact chats) that nobody could find."""
    await bot.say("/id")
    assert bot.saw("your_id") and f"{USER}" in bot.last()
    await bot.say("/mijnid", user=OTHER, lang="en")
    assert bot.saw("your_id", OTHER, lang="en") and f"{OTHER}" in bot.last(OTHER)
    # In a team group: the group's chat id, which a contacts file can name.
    await bot.say("/id@mkbroute_test_bot", user=USER, chat_id=-100555, chat_type="supergroup")
    group = [s.text for s in bot.state.sent if s.chat_id == -100555]
    assert group and "-100555" in group[-1] and f"{USER}" in group[-1]


async def test_contact_persons_see_only_their_own_pilots_leads(claims_bot: Bot) -> None:
    """Issue 17: a pilot's contact person may list, open and export the leads of that pilot,
    and nothing of another pilot's; the statistics and reload stay with programme staff."""
    bot = claims_bot
    ref = await lead_via_telegram(bot, USER)  # routed to avans-bouwtalent
    await bot.say("/leads", user=9001)
    assert ref in bot.last(9001)
    await bot.say(f"/lead {ref}", user=9001)
    assert "Anna Bakker" in bot.last(9001)
    await bot.say("/export csv", user=9001)
    name, data = bot.state.documents[-1]
    assert name.endswith(".csv") and b"Anna Bakker" in data
    # The programme team's contact is a contact of another pilot here: nothing of Avans, and
    # the same answer as for a reference that does not exist.
    await bot.say("/leads", user=9100)
    assert ref not in bot.last(9100)
    await bot.say(f"/lead {ref}", user=9100)
    assert bot.last(9100) == f"Geen aanvraag {ref}."
    await bot.say("/export csv", user=9100)
    assert b"Anna Bakker" not in bot.state.documents[-1][1]
    # Programme-staff commands are unknown to contact persons, as to anyone else.
    for command in ("/stats", "/onbeantwoord", "/herlaad"):
        await bot.say(command, user=9001)
        assert bot.saw("unknown_command", 9001)
    await bot.say("/leads", user=OTHER)
    assert bot.saw("unknown_command", OTHER)


async def test_staff_and_contacts_get_a_dashboard_link_without_a_preview(
    content: Content, tmp_path: Path
) -> None:
    """Issue 18: /dashboard answers staff and contact persons with a one-time login link.
    Telegram must not preview it (a preview fetch would reach the link); others get the
    ordinary unknown-command answer."""
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(CONTACTS_YAML, encoding="utf-8")
    config = settings(
        tmp_path,
        flood_burst=1000,
        admin_ids=(ADMIN,),
        contacts_file=contacts,
        dashboard_url="https://dashboard.example.org",
    )
    async for bot in _bot(content, config):
        for user in (ADMIN, 9001):
            await bot.say("/dashboard", user=user)
            assert "https://dashboard.example.org/login?t=" in bot.last(user)
            params = [p for m, p in bot.state.calls if m == "sendMessage"][-1]
            assert params["link_preview_options"]["is_disabled"] is True
        links = {bot.last(u).split("t=")[1].split()[0] for u in (ADMIN, 9001)}
        assert len(links) == 2  # a link of one's own
        await bot.say("/dashboard", user=USER)
        assert bot.saw("unknown_command", USER)


async def test_a_follow_up_in_the_dashboard_shows_on_the_contacts_cards(
    claims_bot: Bot, content: Content
) -> None:
    """Issue 18: a claim or a later status set in the dashboard edits every card of the lead
    in Telegram, as the card's own buttons do, and removes the buttons."""
    from bot.handoff.claims import show_on_cards
    from bot.handoff.followup import card_note, change_status
    from bot.store.models import LeadStatus

    bot = claims_bot
    ref = await lead_via_telegram(bot, USER)
    await deliver(bot, content)
    app = bot.running
    for to, expect in (
        (LeadStatus.CLAIMED, "Opgepakt door Anouk"),
        (LeadStatus.IN_CONVERSATION, "in gesprek: Anouk"),
    ):
        now = app.clock()
        async with app.db() as db, db.begin():
            lead = (await db.scalars(select(LeadRow).where(LeadRow.ref == ref))).one()
            change = await change_status(db, content, app.contacts, lead, to, "Anouk", now)
            lead_id = lead.id
        assert change.outcome == "done"
        note = card_note(content, to, "Anouk", now)
        assert await show_on_cards(bot.app.bot, app.db, content, lead_id, note) == 2
        edits = [s for s in bot.state.sent if s.method == "editMessageText"][-2:]
        assert {e.chat_id for e in edits} == {9001, 9002}
        assert all(expect in e.text and ref in e.text and not e.buttons for e in edits)
