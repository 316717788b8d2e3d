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

from bot.content.bundle import Content
from bot.knowledge.text import noncharacter
from bot.store.models import AuditRow, LeadRow, OutboxRow

__all__ = ["MAX_CELL", "export_csv", "export_leads", "export_xlsx", "safe_cell", "table"]

MAX_CELL = 32_000  # Excel's limit is 32,767 characters per cell
TRUNCATED = " …[afgekort]"
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "\0")


def safe_cell(value: object) -> str:
    """Text that no spreadsheet will execute: control characters out, triggers quoted."""
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
    if text.lstrip().startswith(_TRIGGERS):
        text = "'" + text
    return text


def table(
    content: Content, leads: Sequence[LeadRow], deliveries: dict[int, list[OutboxRow]]
) -> tuple[list[str], list[list[str]]]:
    """Dutch headers and one row per lead, every cell already made safe."""
    questions: dict[str, str] = {}
    for flow in content.audiences:
        for step in flow.steps:
            if step.choices:
                questions.setdefault(step.id, (step.label or step.ask).nl)
    headers = [
        "Referentie",
        "Datum",
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
        "Toestemming op",
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
        delivery = ", ".join(f"{r.channel} {r.status}" for r in sent) or "-"
        row = [
            lead.ref,
            f"{lead.created_at:%Y-%m-%d %H:%M}",
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
            f"{lead.consent_at:%Y-%m-%d %H:%M}",
            lead.consent_version,
            lead.status,
            delivery,
            lead.claimed_by,
        ]
        rows.append([safe_cell(v) for v in row])
    return headers, rows


def export_csv(
    headers: list[str], rows: list[list[str]], delimiter: Literal[";", ","] = ";"
) -> bytes:
    """UTF-8 with BOM (so Excel reads the accents), every field quoted."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(headers: list[str], rows: list[list[str]]) -> bytes:
    """A header row, sensible widths, frozen header, autofilter; every cell plain text."""
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
            # openpyxl turns any text starting with "=" into a formula; safe_cell prevents
            # that, and this makes every cell text whatever it holds.
            cell.data_type = "s"
    for i, header in enumerate(headers, start=1):
        width = max([len(header), *(len(r[i - 1]) for r in rows[:200])])
        sheet.column_dimensions[get_column_letter(i)].width = min(60, max(10, width + 2))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def export_leads(
    db: AsyncSession,
    content: Content,
    fmt: Literal["csv", "xlsx"],
    *,
    since: dt.datetime | None,
    actor: str,
    now: dt.datetime,
    delimiter: Literal[";", ","] = ";",
) -> tuple[bytes, int]:
    """The export file and its number of leads; records the export in the audit table."""
    query = select(LeadRow).where(~LeadRow.user_key.startswith("erased:"))
    if since is not None:
        query = query.where(LeadRow.created_at >= since)
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
