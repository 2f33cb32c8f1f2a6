"""The surge worker's log is JSON lines like every other process's (docs/operations.md: `make
logs` follows the JSON logs): faust wrote a banner table and lines of its own format to
.data/logs/analytics-surges.log, none of which a log collector could parse."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from services.analytics.entrypoints.surges import make_app
from services.analytics.settings import AnalyticsSettings


@pytest.fixture
def restored_logging():
    handlers, level = logging.root.handlers[:], logging.root.level
    streams = sys.stdout, sys.stderr
    yield
    sys.stdout, sys.stderr = streams
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def test_the_surge_worker_logs_json_lines_and_prints_no_banner(tmp_path, capsys,
                                                                restored_logging) -> None:
    app = make_app(AnalyticsSettings(environment="test", surges_datadir=str(tmp_path)))
    worker = app.Worker(loglevel="info")
    assert worker.quiet  # faust's worker says nothing bare on stdout
    worker._setup_logging()  # (what the worker does as it starts)
    logging.getLogger("faust.worker").info("[^Worker]: Starting...")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    said = json.loads(line)
    assert said["service"] == "analytics-surges" and said["level"] == "info"
    assert said["msg"] == "[^Worker]: Starting..."
