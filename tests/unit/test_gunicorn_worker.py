"""The worker's answers to what gunicorn refuses before the app: status by gunicorn's error, problem+json."""

from __future__ import annotations

import json
import ssl

import pytest
from gunicorn.http import errors

from app.gunicorn_worker import problem_response, refusal


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.LimitRequestLine(9000, 8190), 414),
        (errors.LimitRequestHeaders("too large"), 431),
        (errors.UnsupportedTransferCoding("gzip"), 501),
        (errors.ForbiddenProxyRequest("10.0.0.1"), 403),
        (ssl.SSLError(1, "bad"), 403),
        (errors.InvalidRequestLine("GARBAGE"), 400),
        (errors.InvalidHeaderName("b@d"), 400),
        (errors.ConfigurationProblem("x"), 500),
        (RecursionError(), 500),  # escaped the app
    ],
)
def test_refusal_status(exc: BaseException, status: int) -> None:
    assert refusal(exc)[0] == status


def test_problem_response_is_a_complete_http_answer() -> None:
    raw = problem_response(414, "URI Too Long", "Shorten the URL.", "req-0001")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 414 URI Too Long"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Content-Length"]) == len(body) and headers["X-Request-ID"] == "req-0001"
    problem = json.loads(body)
    assert problem["status"] == 414 and problem["code"] == "uri_too_long"
    assert problem["detail"] == "Shorten the URL." and problem["request_id"] == "req-0001"


def test_access_lines_are_built_only_when_the_access_logger_writes_them() -> None:
    import logging

    from gunicorn.config import Config

    from app import gunicorn_conf
    from app.gunicorn_worker import Logger

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)  # gunicorn's setup applies its logconfig_dict to the root logger
    cfg = Config()
    cfg.set("logconfig_dict", gunicorn_conf.logconfig_dict)
    logger = Logger(cfg)
    built: list[object] = []
    logger.atoms = lambda *args: built.append(args) or {}  # type: ignore[method-assign]
    try:
        logger.access(None, None, {}, None)
        assert built == []  # gunicorn.access is at WARNING (the app logs each request itself)
        logging.getLogger("gunicorn.access").setLevel(logging.INFO)
        logger.access(None, None, {}, None)
        assert len(built) == 1
    finally:
        logging.getLogger("gunicorn.access").setLevel(logging.WARNING)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
