import csv
import io

import pytest

from console.exports import csv_response, safe_cell


@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("plain text", "plain text"),
        (-5, -5),
        (2.5, 2.5),
        (None, ""),
        (True, "yes"),
    ],
)
def test_safe_cell_defuses_formulas_and_keeps_numbers(value, expected):
    assert safe_cell(value) == expected


def test_csv_response_is_an_attachment_with_safe_cells():
    response = csv_response("x.csv", ["name", "value"], [["=cmd|' /C calc'!A0", -1]])
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["name", "value"], ["'=cmd|' /C calc'!A0", "-1"]]
