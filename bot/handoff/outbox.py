"""Creating deliveries: one outbox row per contact person per channel they can be reached on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from bot.handoff.contacts import Contact
from bot.store.models import OutboxKind, OutboxRow, OutboxStatus

__all__ = ["SENDER_PREFIX", "deliveries"]

# last_error of a row held back by our own sending side (counted by /healthz and doctor).
SENDER_PREFIX = "sender: "


def deliveries(
    lead_id: int,
    pilot: str,
    people: Iterable[Contact],
    now: dt.datetime,
    kind: OutboxKind = OutboxKind.LEAD,
) -> list[OutboxRow]:
    """The rows that hand lead ``lead_id`` to ``people`` of ``pilot``, due now."""
    rows = []
    for person in people:
        for channel, target in (("email", person.email), ("telegram", person.telegram_chat_id)):
            if target is not None:
                rows.append(
                    OutboxRow(
                        lead_id=lead_id,
                        channel=channel,
                        target=str(target),
                        contact=person.name,
                        pilot=pilot,
                        status=OutboxStatus.PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                        kind=kind,
                    )
                )
    return rows
