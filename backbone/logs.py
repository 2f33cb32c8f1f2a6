"""JSON log lines. Ticket id and trace id come from context variables that the consumer,
the relay and the HTTP middleware set, so every line written while handling a ticket carries
them without passing them around."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

ticket_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("ticket_id", default="")
trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ticket_id = getattr(record, "ticket_id", "") or ticket_id_var.get()
        trace_id = getattr(record, "trace_id", "") or trace_id_var.get()
        if ticket_id:
            line["ticket_id"] = ticket_id
        if trace_id:
            line["trace_id"] = trace_id
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(service: str, level: str | int = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
