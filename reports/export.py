"""CSV of a report, safe to open in a spreadsheet."""

import csv
import io

from .registry import ReportData

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(report: ReportData) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(report.title)])
    writer.writerow(
        ["Period", safe_cell(report.start.isoformat()), safe_cell(report.end.isoformat())]
    )
    for table in report.tables:
        writer.writerow([])
        writer.writerow([safe_cell(table.heading)])
        writer.writerow([safe_cell(c) for c in table.columns])
        for row in table.rows:
            writer.writerow([safe_cell(c) for c in row])
        if table.note:
            writer.writerow([safe_cell(table.note)])
    if report.notes:
        writer.writerow([])
        for note in report.notes:
            writer.writerow([safe_cell(note)])
    return out.getvalue()
