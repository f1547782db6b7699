"""The monitoring CSV: formula cells defused, dates read as documented."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import BadUserInput
from domain.model import Channel
from domain.monitoring import Catalogue, MonitoringTopic, StatisticsCell
from domain.use_cases.monitoring import MonitoringReport
from graph.exports import monitoring_csv, parse_moment, safe_cell


@pytest.mark.parametrize("value", ["=1+1", "+49", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Alkohol", "2025-01", "5", "", "a=b"])
def test_other_cells_stay_as_they_are(value: str) -> None:
    assert safe_cell(value) == value


def test_dates_are_midnight_utc_and_date_times_keep_their_offset() -> None:
    assert parse_moment("2025-01-31", "from") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_moment("2025-01-31T10:00:00", "to") == datetime(2025, 1, 31, 10, tzinfo=UTC)
    berlin = parse_moment("2025-02-01T00:30:00+01:00", "to")
    assert berlin.utcoffset() == timedelta(hours=1) and berlin == datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    for bad, message in ((None, "from is required"), ("31.01.2025", "from is not an ISO 8601")):
        with pytest.raises(BadUserInput, match=message) as error:
            parse_moment(bad, "from")
        assert error.value.field == "from"


def test_the_csv_names_category_and_topic_and_leaves_withheld_counts_empty() -> None:
    catalogue = Catalogue.of([MonitoringTopic(1, "-Sucht"), MonitoringTopic(2, "Alkohol", 1)])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    cells = [
        StatisticsCell("2025-01", Channel.CHAT, 2, None, 7, False),
        StatisticsCell("2025-01", Channel.MAIL, 2, None, None, True),
    ]
    report = MonitoringReport(start, datetime(2025, 2, 1, tzinfo=UTC), cells, catalogue)
    rows = list(csv.reader(io.StringIO(monitoring_csv(report, by_counsellor=False))))
    assert rows == [
        ["month", "channel", "category", "topic", "contacts", "suppressed"],
        ["2025-01", "CHAT", "'-Sucht", "Alkohol", "7", "false"],
        ["2025-01", "MAIL", "'-Sucht", "Alkohol", "", "true"],
    ]
