"""SQLAlchemy models: the database is the one source of truth for sessions, leads and events."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AuditRow",
    "Base",
    "ConsentRow",
    "DashboardLinkRow",
    "EnumText",
    "EventRow",
    "LeadHistoryRow",
    "LeadNoteRow",
    "LeadRow",
    "LeadStatus",
    "OutboxKind",
    "OutboxRow",
    "OutboxStatus",
    "ProcessedInbound",
    "SessionRow",
    "UnansweredRow",
    "UtcDateTime",
]


class LeadStatus(StrEnum):
    """Where a lead stands: new -> queued -> delivered -> claimed | declined; undeliverable
    when nobody could be reached; erased (a tombstone) after the person withdrew."""

    NEW = "new"
    QUEUED = "queued"
    DELIVERED = "delivered"
    CLAIMED = "claimed"
    DECLINED = "declined"
    UNDELIVERABLE = "undeliverable"
    ERASED = "erased"
    # Follow-up after a claim, set by the contact person (or programme staff) in the dashboard.
    IN_CONVERSATION = "in_conversation"
    ENROLLED = "enrolled"
    DROPPED = "dropped"


class OutboxStatus(StrEnum):
    """A delivery: pending -> sending (leased) -> sent; dead after a permanent failure."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxKind(StrEnum):
    """What a delivery carries: the lead card, a reminder of it, or the withdrawal notice."""

    LEAD = "lead"
    REMINDER = "reminder"
    ERASED = "erased"


class EnumText(TypeDecorator[Any]):
    """A StrEnum stored as plain text: a misspelt status is refused before it is written, and
    rows read back as enum members (the schema stays VARCHAR)."""

    impl = String(20)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: Any, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum(value)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(AsyncAttrs, DeclarativeBase):
    pass


class SessionRow(Base):
    """The engine's session of one user, as JSON."""

    __tablename__ = "sessions"

    user_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class ProcessedInbound(Base):
    """Inbound ids already handled, so a message delivered twice is answered once."""

    __tablename__ = "processed_inbound"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    inbound_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class ConsentRow(Base):
    """That a user consented, to which version of the privacy notice, and when."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(100), index=True)
    notice_version: Mapped[str] = mapped_column(String(40))
    given_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LeadRow(Base):
    """A confirmed request to be contacted: at most one per questionnaire run of a user."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("user_key", "run", name="uq_leads_user_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(20), unique=True)
    user_key: Mapped[str] = mapped_column(String(100), index=True)
    run: Mapped[int] = mapped_column(Integer)
    flow: Mapped[str] = mapped_column(String(30))
    verdict: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    answers: Mapped[dict[str, str]] = mapped_column(JSON)
    name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    # What the person wants to talk about (optional, typed in the contact flow).
    question: Mapped[str | None] = mapped_column(String(500))
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    lang: Mapped[str] = mapped_column(String(5))
    pilot: Mapped[str | None] = mapped_column(String(40))
    # Why the lead went to this pilot, in words staff can read ("ICT + ... -> HvA").
    routing: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    status: Mapped[LeadStatus] = mapped_column(EnumText(LeadStatus), default=LeadStatus.NEW)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"))
    consent_version: Mapped[str] = mapped_column(String(40))
    consent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class OutboxRow(Base):
    """One delivery of one lead to one contact over one channel (transactional outbox)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # "email" or "telegram"
    target: Mapped[str] = mapped_column(String(254))  # an address or a chat id
    contact: Mapped[str] = mapped_column(String(100))
    pilot: Mapped[str] = mapped_column(String(40))
    status: Mapped[OutboxStatus] = mapped_column(
        EnumText(OutboxStatus), default=OutboxStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The Telegram message id of a sent card, so that a claim can update it for everyone.
    external_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[OutboxKind] = mapped_column(
        EnumText(OutboxKind), default=OutboxKind.LEAD, server_default="lead"
    )

    def again(self, now: dt.datetime, kind: OutboxKind) -> OutboxRow:
        """A new delivery to the same person, channel and target (a reminder, a notice)."""
        return OutboxRow(
            lead_id=self.lead_id,
            channel=self.channel,
            target=self.target,
            contact=self.contact,
            pilot=self.pilot,
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            kind=kind,
        )


class EventRow(Base):
    """A funnel event; ``data`` never holds personal data."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(100), index=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class AuditRow(Base):
    """That something sensitive happened (an erasure, a purge), never what it touched."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(40))  # "user", "staff", "retention"
    detail: Mapped[str] = mapped_column(String(200), default="")  # counts only
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class UnansweredRow(Base):
    """A free question the knowledge base could not answer."""

    __tablename__ = "unanswered"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(100), index=True)
    text: Mapped[str] = mapped_column(String(500))
    lang: Mapped[str] = mapped_column(String(5))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class DashboardLinkRow(Base):
    """A one-time login link for the staff dashboard: only its hash is stored."""

    __tablename__ = "dashboard_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LeadNoteRow(Base):
    """A note staff keep on a lead: never shown to the user, erased with the lead."""

    __tablename__ = "lead_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(String(1000))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LeadHistoryRow(Base):
    """One status change of a lead: who, when, from, to, and why (a drop-out's reason)."""

    __tablename__ = "lead_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
