"""gunicorn settings that ``tenantry serve`` loads (``-c python:app.gunicorn_conf``).

gunicorn's own lines go out as JSON like the app's, and a worker's Prometheus files are marked dead when it
exits, so ``/metrics`` keeps adding up every worker's counters (multi-process mode, PROMETHEUS_MULTIPROC_DIR).
The worker answers the requests gunicorn refuses by itself in problem+json, like the app's own errors.
"""

from __future__ import annotations

import os
from typing import Any

# Sync workers, a request at a time per process, two processes per core by default (``tenantry serve``): an
# IdP's import measured faster and steadier so than on threaded workers (bench/scim.py, docs/scim.md §7).
# With keep-alive, a threaded worker keeps each client's connection, so the clients can pile onto one worker
# while another idles, and two threads of one process share its interpreter lock: the thread holding the
# database's write lock waited on the other. A sync worker answers ``Connection: close``: the client (or the
# proxy in front) opens a new connection, and the next free worker takes it. Threaded workers with keep-alive
# remain a GUNICORN_CMD_ARGS away: "--worker-class app.gunicorn_worker.ProblemJsonThreadWorker --threads 2".
worker_class = "app.gunicorn_worker.ProblemJsonWorker"
threads = 2  # used by the threaded worker only
logger_class = "app.gunicorn_worker.Logger"
# Seconds an idle connection stays open: longer than a fronting load balancer's idle timeout (60 s on common
# ones), so the balancer closes idle connections first and never sends on one gunicorn has just closed.
keepalive = 75
# gunicorn's largest request line (method, path, query and version): ids and cursors fit with room to spare;
# anything longer is 414 problem+json (the README says so).
limit_request_line = 8190

# Merged over gunicorn's defaults. The root logger gets no handler here: the app adds its own JSON handler
# (app.observability.configure_logging), and a second one would print every line twice.
logconfig_dict: dict[str, Any] = {
    "root": {"level": "INFO", "handlers": []},
    "formatters": {"json": {"()": "app.observability.JsonFormatter"}},
    "handlers": {
        "json_stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json_stderr"], "propagate": False},
        # The app logs every request as JSON with its request id; an access log would repeat it.
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


def child_exit(_server: Any, worker: Any) -> None:
    """A dead worker's live gauges must stop counting; its counters and histograms stay in the sum."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
