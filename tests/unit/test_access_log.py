"""uvicorn's own access lines, should they be switched on, lose the query string."""

from __future__ import annotations

import logging

import graph.access_log  # noqa: F401  (installs the filter on uvicorn's access logger)


def test_uvicorn_access_lines_lose_the_query_string() -> None:
    logger = logging.getLogger("uvicorn.access")
    record = logger.makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/graphql?query=mutation+login(password:%22geheim%22)", "1.1", 405),
        None,
    )
    assert logger.filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /graphql HTTP/1.1" 405'


def test_uvicorn_websocket_lines_lose_the_query_string() -> None:
    logger = logging.getLogger("uvicorn.error")
    message = '%s - "WebSocket %s" [accepted]'
    record = logger.makeRecord(
        "uvicorn.error", logging.INFO, __file__, 1, message, ("127.0.0.1:5000", "/graphql?token=abc"), None
    )
    assert logger.filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /graphql" [accepted]'
