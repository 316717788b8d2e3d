"""An SMTP server on 127.0.0.1 (aiosmtpd) that records what it accepts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
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
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.gate.set()

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

    def hold(self) -> None:
        """Keep the next messages waiting in DATA (a slow server) until :meth:`release`."""
        self.gate.clear()
        self.arrived.clear()

    def release(self) -> None:
        self.gate.set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.gate.is_set():
            # The server runs in the controller's thread: wait there, not on the test's loop.
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 20)
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"
