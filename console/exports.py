"""CSV downloads that a spreadsheet opens safely (OWASP "CSV injection"; ASVS 5.0 1.2.10).

A cell beginning with =, +, -, @, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets; such text cells are prefixed with a single quote so they show as typed.
Numbers stay numbers (a negative figure is written as a number, not as text)."""

import csv
import io
from collections.abc import Iterable

from django.http import HttpResponse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return response


def defuse_csv(text: str) -> str:
    """A CSV written elsewhere (a module's DLQ export) with every text cell made safe: what a
    module puts in a cell comes from the records it carries, i.e. from outside."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
