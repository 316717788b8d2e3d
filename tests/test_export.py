"""Exports staff can open safely (T17): hostile leads through CSV and XLSX, parsed back."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.content.bundle import Content
from bot.staff.export import MAX_CELL, export_csv, export_xlsx, safe_cell, table
from bot.store.models import LeadRow
from tests.conftest import chat_jsonl, mkbroute

HOSTILE = [
    "=1+1",
    "+31 6 12345678",
    "-2+3",
    "@SUM(A1:A2)",
    "\tTAB",
    "\rCR",
    "\nLF",
    "|pipe",
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://x","y")',
    "   =1+1",
    "＝1+1",
    "'already",
    'comma, "quote"\nnewline',
    "NUL\x00and\x01\x1fcontrols",
    "x" * 40_000,
    "Zoë Ørsted",
    "Bakkerij\uffff de Ster\ufffe",  # XML 1.0 forbids these: one made every XLSX unreadable
    "\ufdd0\U0010ffffHoek",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "|")


def leads() -> list[LeadRow]:
    at = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    out = []
    for i, value in enumerate(HOSTILE, start=1):
        out.append(
            LeadRow(
                id=i,
                ref=f"L-2026-{i:06d}",
                user_key=f"console:{i}",
                run=1,
                flow="werkgever",
                verdict="geschikt",
                reasons=[value],
                routing=["x"],
                answers={"medewerkers": "1_9"},
                name=value,
                company=value,
                email=f"u{i}@example.org",
                phone="+31612345678",
                minor=False,
                lang="nl",
                pilot="programmateam",
                status="new",
                consent_version="v1",
                consent_at=at,
                created_at=at,
            )
        )
    return out


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_never_starts_with_a_trigger(value: str) -> None:
    cell = safe_cell(value)
    assert not cell.startswith(TRIGGERS) and not cell.lstrip().startswith(TRIGGERS)
    assert "\x00" not in cell and "\x01" not in cell and len(cell) <= MAX_CELL


def test_csv_parses_back_with_every_trigger_quoted(content: Content) -> None:
    headers, rows = table(content, leads(), {})
    data = export_csv(headers, rows)
    assert data.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert len(parsed) == len(HOSTILE) + 1 and {len(r) for r in parsed} == {len(headers)}
    name_col = headers.index("Naam")
    for row in parsed[1:]:
        cell = row[name_col]
        assert not cell.lstrip().startswith(TRIGGERS)
    assert parsed[1][name_col] == "'=1+1"
    assert parsed[12][name_col] == "'=1+1"  # the fullwidth ＝ became = and was caught
    assert parsed[17][name_col] == "Zoë Ørsted"
    assert parsed[-2][name_col] == "Bakkerij de Ster" and parsed[-1][name_col] == "Hoek"
    assert parsed[16][name_col].endswith("[afgekort]")
    phone = parsed[1][headers.index("Telefoon")]
    assert phone == "'+31612345678"  # readable, and not a number or a formula
    assert list(csv.reader(io.StringIO(export_csv(headers, rows, ",").decode("utf-8-sig"))))


def test_xlsx_has_no_formula_and_no_illegal_character(content: Content) -> None:
    headers, rows = table(content, leads(), {})
    book = load_workbook(io.BytesIO(export_xlsx(headers, rows)))
    sheet = book["Aanvragen"]
    assert [c.value for c in sheet[1]] == headers
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            # Safe by the cell's type: text or a date, never a formula.
            assert cell.data_type in ("s", "d", "n"), (cell.data_type, cell.value)
            if isinstance(cell.value, str):
                assert cell.number_format == "@"
    assert sheet.max_row == len(HOSTILE) + 1


def test_xlsx_looks_clean_to_staff(content: Content) -> None:
    """Issue 17: phone numbers as text without a visible apostrophe, dates as real dates in
    Dutch time, statuses in Dutch, empty cells empty."""
    headers, rows = table(content, leads(), {})
    sheet = load_workbook(io.BytesIO(export_xlsx(headers, rows)))["Aanvragen"]
    first = {h: c for h, c in zip(headers, sheet[2], strict=True)}
    assert first["Telefoon"].value == "+31612345678" and first["Telefoon"].data_type == "s"
    assert first["Naam"].value == "=1+1" and first["Naam"].data_type == "s"
    # 12:00 UTC on 29 November is 13:00 in Amsterdam (winter time), stored as a date cell.
    assert first["Datum (NL-tijd)"].value == dt.datetime(2026, 11, 29, 13, 0)
    assert (
        first["Datum (NL-tijd)"].is_date
        and first["Datum (NL-tijd)"].number_format == "DD-MM-YYYY HH:MM"
    )
    assert first["Status"].value == "nieuw"
    assert first["Vraag"].value is None and first["Opgepakt door"].value is None
    parsed = list(
        csv.reader(io.StringIO(export_csv(headers, rows).decode("utf-8-sig")), delimiter=";")
    )
    row = dict(zip(parsed[0], parsed[1], strict=True))
    assert (
        row["Datum (NL-tijd)"] == "29-11-2026 13:00"
        and row["Status"] == "nieuw"
        and row["Vraag"] == ""
    )


def test_export_command_writes_an_audited_file(tmp_path: Path) -> None:
    flow = [
        "menu:werkgever",
        "c:medewerkers:1_9",
        "c:doel:aannemen",
        "c:begeleider:ja",
        "c:sector:ict",
        "c:niveau:ad",
        "c:provincie:noord_holland",
        "c:aanbod:ja",
        "c:toestemming:ja",
    ]
    lines = [{"user": "e", "button": b} for b in flow]
    lines += [
        {"user": "e", "text": "Eva Evil"},
        {"user": "e", "text": "=HYPERLINK(1) BV"},
        {"user": "e", "button": "c:kanaal:email"},
        {"user": "e", "text": "eva@example.org"},
        {"user": "e", "button": "confirm"},
    ]
    chat_jsonl(tmp_path, lines)
    out = tmp_path / "leads.csv"
    proc = mkbroute(
        tmp_path, "export", "--format", "csv", "--out", str(out), "--since", "2000-01-01"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Exported 1 lead(s)" in proc.stdout and "eva@" not in proc.stdout
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig")), delimiter=";"))
    assert rows[1][rows[0].index("Bedrijf")] == "'=HYPERLINK(1) BV"
    bad = mkbroute(tmp_path, "export", "--out", str(out), "--since", "volgende dinsdag")
    assert bad.returncode != 0 and "not a date" in bad.stderr
    bad = mkbroute(tmp_path, "export", "--out", str(out), "--since", "31-02-2026")
    assert bad.returncode != 0 and "not a real date" in bad.stderr
    # 01-01-2099 was silently "everything" before: now it is a date in the future, and empty.
    later = mkbroute(
        tmp_path, "export", "--format", "csv", "--out", str(out), "--since", "01-01-2099"
    )
    assert later.returncode == 0 and "Exported 0 lead(s)" in later.stdout
    today = mkbroute(
        tmp_path,
        "export",
        "--format",
        "csv",
        "--out",
        str(out),
        "--since",
        "vandaag",
        "--until",
        "vandaag",
    )
    assert today.returncode == 0 and "Exported 1 lead(s)" in today.stdout
