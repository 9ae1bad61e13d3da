"""Logging set-up: one line per record, text for people or JSON for log shippers."""

from __future__ import annotations

import json
import logging
import sys
from typing import Final

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paho logs every packet at DEBUG; uvicorn's error log is useful, its access log is not.
    logging.getLogger("paho").setLevel(max(logging.INFO, root.level))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # httpx logs every request's URL at INFO: a Telegram URL carries the bot token, a webhook's
    # may carry a key. Notifiers log what they did themselves, without secrets.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
