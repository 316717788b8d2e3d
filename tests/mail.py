"""An SMTP server on 127.0.0.1 (aiosmtpd) that records what it accepts."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["Mailbox"]


@dataclass
class Mailbox:
    """An SMTP server on 127.0.0.1 that can refuse, answer 421/550, or accept."""

    messages: list[EmailMessage] = field(default_factory=list)
    mode: str = "accept"  # accept | 421 | 550
    bouncing: set[str] = field(default_factory=set)  # addresses that get 550 whatever the mode

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.mode == "550" or address in self.bouncing:
            return "550 5.1.1 No such user"
        if self.mode == "421":
            return "421 4.3.2 Service not available, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"
