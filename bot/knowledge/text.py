"""Text normalisation shared by input validation and fuzzy matching."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_input", "fill", "fold", "noncharacter", "scrub"]

# Control characters (Cc) and format characters (Cf: bidi overrides, zero-width joiners...) can
# hide or reorder text in a staff export; they never belong in an answer.
_DROP = {"Cc", "Cf", "Co", "Cs"}
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s+]", re.UNICODE)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_EMAIL_LIKE = re.compile(r"\S+@\S+")
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and U+xFFFE/U+xFFFF: never text, and forbidden in XML (an XLSX with one
    does not open)."""
    cp = ord(ch)
    return 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE


def clean_input(text: str) -> str:
    """NFKC-normalise, drop control, bidi and non-characters, collapse white space."""
    if text.isascii() and text.isprintable():
        # Most messages: nothing to normalise or drop (the index folds thousands at start-up).
        return _SPACE.sub(" ", text).strip()
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if ch in "\t\n\r" else ch for ch in text)
    text = "".join(
        ch for ch in text if unicodedata.category(ch) not in _DROP and not noncharacter(ch)
    )
    return _SPACE.sub(" ", text).strip()


def fold(text: str) -> str:
    """Matching form: cleaned, case-folded, accents and punctuation removed."""
    text = clean_input(text).casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _PUNCT.sub(" ", text.replace("_", " "))
    return _SPACE.sub(" ", text).strip()


def fill(template: str, **values: str) -> str:
    """Replace ``{name}`` placeholders; unknown names stay as they are (never raises)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def scrub(text: str) -> str:
    """Mask e-mail addresses and phone numbers in text kept for editors (no personal data)."""
    return _PHONE_LIKE.sub("[telefoon]", _EMAIL_LIKE.sub("[e-mail]", text))
