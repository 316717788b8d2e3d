"""Lead exports that staff can open safely in Excel: CSV (Dutch Excel defaults) and XLSX.

Spreadsheets run formulas, so every cell that a spreadsheet could read as one is neutralised
(OWASP CSV injection; T17): normalise first, escape last, on the exact string written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local
from bot.content.bundle import Content
from bot.knowledge.text import noncharacter
from bot.staff.period import Period
from bot.store.models import AuditRow, LeadRow, OutboxRow

__all__ = [
    "MAX_CELL",
    "Cell",
    "clean_cell",
    "export_csv",
    "export_leads",
    "export_xlsx",
    "safe_cell",
    "table",
]

MAX_CELL = 32_000  # Excel's limit is 32,767 characters per cell
TRUNCATED = " …[afgekort]"
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "\0")


Cell = str | dt.datetime | None  # a datetime is local time (Excel has no time zones)


def clean_cell(value: object) -> str:
    """Text fit for any spreadsheet: normalised, control and non-characters out, cut to
    Excel's cell limit. Not yet safe for CSV (see :func:`safe_cell`)."""
    text = "" if value is None else str(value)
    # NFKC first: it folds a fullwidth "＝" into "=", which must then be caught.
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n"
        or (unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co") and not noncharacter(ch))
    )
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - len(TRUNCATED)] + TRUNCATED
    return text


def safe_cell(value: object) -> str:
    """CSV text that no spreadsheet will execute: cleaned, and a formula trigger quoted (CSV
    has no cell types, so the apostrophe is the only protection there)."""
    text = clean_cell(value)
    if text.lstrip().startswith(_TRIGGERS):
        text = "'" + text
    return text


def table(
    content: Content, leads: Sequence[LeadRow], deliveries: dict[int, list[OutboxRow]]
) -> tuple[list[str], list[list[Cell]]]:
    """Dutch headers and one row per lead: cleaned text, local times, Dutch statuses, None for
    an empty cell. :func:`export_csv` and :func:`export_xlsx` make the cells safe."""
    m = content.messages

    def when(at: dt.datetime | None) -> dt.datetime | None:
        return local(at).replace(tzinfo=None) if at is not None else None

    questions: dict[str, str] = {}
    for flow in content.audiences:
        for step in flow.steps:
            if step.choices:
                questions.setdefault(step.id, (step.label or step.ask).nl)
    headers = [
        "Referentie",
        "Datum (NL-tijd)",
        "Doelgroep",
        "Inschatting",
        "Redenen",
        "Pilot",
        "Routering",
        *questions.values(),
        "Naam",
        "Bedrijf",
        "E-mail",
        "Telefoon",
        "Vraag",
        "Minderjarig",
        "Toestemming op (NL-tijd)",
        "Privacyversie",
        "Status",
        "Bezorging",
        "Opgepakt door",
    ]
    rows = []
    for lead in leads:
        lead_flow = content.flows.get(lead.flow)
        labels = {}
        if lead_flow is not None:
            for step in lead_flow.steps:
                choice = next((c for c in step.choices if c.id == lead.answers.get(step.id)), None)
                if choice is not None:
                    labels[step.id] = choice.label.nl
        sent = deliveries.get(lead.id, [])
        delivery = ", ".join(f"{r.channel} {m.staff_delivery_status[r.status].nl}" for r in sent)
        row: list[object] = [
            lead.ref,
            when(lead.created_at),
            lead_flow.title.nl if lead_flow else lead.flow,
            lead.verdict,
            "; ".join(lead.reasons),
            lead.pilot,
            "; ".join(lead.routing),
            *(labels.get(q, "") for q in questions),
            lead.name,
            lead.company,
            lead.email,
            lead.phone,
            lead.question,
            "ja" if lead.minor else "nee",
            when(lead.consent_at),
            lead.consent_version,
            m.staff_lead_status[lead.status].nl,
            delivery,
            lead.claimed_by,
        ]
        rows.append([v if isinstance(v, dt.datetime) else (clean_cell(v) or None) for v in row])
    return headers, rows


def export_csv(
    headers: list[str], rows: list[list[Cell]], delimiter: Literal[";", ","] = ";"
) -> bytes:
    """UTF-8 with BOM (so Excel reads the accents), every field quoted, times as Dutch staff
    write them (31-01-2026 14:05), formula triggers quoted."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(
        [f"{v:%d-%m-%Y %H:%M}" if isinstance(v, dt.datetime) else safe_cell(v) for v in row]
        for row in rows
    )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(headers: list[str], rows: list[list[Cell]]) -> bytes:
    """A header row, sensible widths, frozen header, autofilter; times as real date cells,
    everything else a typed text cell (never a formula, and no visible apostrophe)."""
    # Imported here, not at the top: openpyxl (and the numpy it pulls in) costs every process
    # that merely imports the CLI or the Telegram adapter ~0.3 s and ~25 MiB; only an export
    # needs it.
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Aanvragen"
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "DD-MM-YYYY HH:MM"
            elif cell.value is not None:
                # openpyxl turns text starting with "=" into a formula: the cell type makes it
                # text whatever it holds, and the text format keeps it text when edited.
                cell.data_type = "s"
                cell.number_format = "@"
    for i, header in enumerate(headers, start=1):
        width = max([len(header), *(_width(r[i - 1]) for r in rows[:200])])
        sheet.column_dimensions[get_column_letter(i)].width = min(60, max(10, width + 2))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _width(value: Cell) -> int:
    return 16 if isinstance(value, dt.datetime) else len(value or "")


async def export_leads(
    db: AsyncSession,
    content: Content,
    fmt: Literal["csv", "xlsx"],
    *,
    period: Period,
    pilots: frozenset[str] | None = None,
    actor: str,
    now: dt.datetime,
    delimiter: Literal[";", ","] = ";",
) -> tuple[bytes, int]:
    """The export file and its number of leads; records the export in the audit table."""
    query = select(LeadRow).where(~LeadRow.user_key.startswith("erased:"))
    query = query.where(*period.within(LeadRow.created_at))
    if pilots is not None:  # a contact person's export: their own pilot's leads only
        query = query.where(LeadRow.pilot.in_(pilots))
    leads = list((await db.scalars(query.order_by(LeadRow.id))).all())
    rows = (
        await db.scalars(select(OutboxRow).where(OutboxRow.lead_id.in_([x.id for x in leads])))
    ).all()
    deliveries: dict[int, list[OutboxRow]] = {}
    for row in rows:
        deliveries.setdefault(row.lead_id, []).append(row)
    headers, table_rows = table(content, leads, deliveries)
    data = (
        export_csv(headers, table_rows, delimiter)
        if fmt == "csv"
        else export_xlsx(headers, table_rows)
    )
    db.add(
        AuditRow(action="export", actor=actor, detail=f"format={fmt}, rows={len(leads)}", at=now)
    )
    return data, len(leads)
