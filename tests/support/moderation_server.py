"""A moderation endpoint on loopback: answers POST /v1/moderations as OpenAI's does, with the
answers a test queues, and keeps the requests it got."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def moderation_body(*, flagged: bool, categories: dict[str, bool] | None = None) -> dict:
    """OpenAI's moderation response shape."""
    names = ("harassment", "harassment/threatening", "hate", "self-harm", "sexual", "violence")
    cats = {name: False for name in names} | (categories or {})
    return {
        "id": "modr-test-1",
        "model": "omni-moderation-2024-09-26",
        "results": [
            {
                "flagged": flagged,
                "categories": cats,
                "category_scores": {name: (0.9 if hit else 0.001) for name, hit in cats.items()},
                "category_applied_input_types": {name: ["text"] for name in cats},
            }
        ],
    }


class ModerationServer:
    """Answers POST /v1/moderations with the queued (status, body) pairs, then the default."""

    def __init__(self) -> None:
        self.default: tuple[int, Any] = (200, moderation_body(flagged=False))
        self.queue: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                status, answer = server.queue.pop(0) if server.queue else server.default
                if self.path.rstrip("/") != "/v1/moderations":
                    status, answer = 404, {"error": {"message": "no such route", "code": None}}
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, status: int, body: Any) -> None:
        self.default = (status, body)

    def __enter__(self) -> ModerationServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
