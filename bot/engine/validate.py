"""Validation and normalisation of typed answers: names, e-mail addresses, phone numbers, text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

from bot.knowledge.text import clean_input

__all__ = ["Invalid", "Valid", "validate"]


@dataclass(frozen=True, slots=True)
class Valid:
    value: str


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str  # a Messages field name: invalid_name, invalid_email, too_long, ...


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_NAME_PUNCT = set(" -'.’")
# Free text lands on a contact person's card and in an e-mail: a link, an @name or a
# /command there is how a phishing message would ride along with a real lead.
_LINK = re.compile(
    r"(?:https?://|www\.|\b[a-z0-9-]+\.(?:nl|com|org|net|eu|be|de|io|info|biz|xyz|ly|me)\b)",
    re.IGNORECASE,
)
_MENTION = re.compile(r"(?:^|\s)[@/][A-Za-z0-9_]{2,}")


def _name(text: str, max_length: int) -> Valid | Invalid:
    if len(text) > max_length:
        return Invalid("too_long")
    letters = sum(1 for ch in text if unicodedata.category(ch).startswith("L"))
    ok = all(unicodedata.category(ch)[0] in "LM" or ch in _NAME_PUNCT for ch in text)
    if letters < 2 or not ok:
        return Invalid("invalid_name")
    return Valid(text)


def _email(text: str) -> Valid | Invalid:
    text = text.strip().strip("<>").strip()
    local, at, domain = text.rpartition("@")
    if at and not domain.isascii():
        # An internationalised domain (bakkerij-müller.nl) is stored in its ASCII form
        # (xn--bakkerij-mller-...), which every mail server accepts.
        try:
            text = f"{local}@{domain.encode('idna').decode('ascii')}"
        except UnicodeError:
            return Invalid("invalid_email")
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text:
        return Invalid("invalid_email")
    local, _, domain = text.rpartition("@")
    if len(local) > 64 or local.startswith(".") or local.endswith("."):
        return Invalid("invalid_email")
    return Valid(f"{local}@{domain.lower()}")


def _phone(text: str) -> Valid | Invalid:
    if len(text) > 40 or not re.fullmatch(r"[0-9+()./ -]+", text):
        return Invalid("invalid_phone")
    try:
        number = phonenumbers.parse(text, "NL")
    except phonenumbers.NumberParseException:
        return Invalid("invalid_phone")
    if not phonenumbers.is_valid_number(number):
        return Invalid("invalid_phone")
    return Valid(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def validate(kind: str, raw: str, max_length: int = 200) -> Valid | Invalid:
    """Check one typed answer of the given input kind and return its stored form."""
    text = clean_input(raw)
    if not text:
        return Invalid(f"invalid_{kind}")
    if kind == "name":
        return _name(text, max_length)
    if kind == "email":
        return _email(text)
    if kind == "phone":
        return _phone(text)
    if len(text) > max_length:
        return Invalid("too_long")
    if _LINK.search(text) or _MENTION.search(text):
        return Invalid("invalid_link")
    return Valid(text)
