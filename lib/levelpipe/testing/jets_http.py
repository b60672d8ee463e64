"""A recorded-response HTTP server on 127.0.0.1 for the Solar Jet Hunter network clients.

Each route (URL path) has a queue of answers served in order (the last one repeats). An answer
is a status, a body and options: `stall_s` (wait before answering: a stalled server),
`truncate_to` (announce the full Content-Length but send only that many bytes, then close: a
cut transfer). Every request is recorded (path and query) so tests can check what was asked.
The server binds to the loopback address only and stops when the context exits.
"""
from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | Callable[[dict], bytes | str] = b""
    content_type: str = "application/json"
    stall_s: float = 0.0
    truncate_to: int | None = None


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]


@dataclass
class RecordedServer:
    routes: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _served: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def add(self, path: str, *answers: Answer) -> "RecordedServer":
        self.routes.setdefault(path, []).extend(answers)
        return self

    def next_answer(self, path: str) -> Answer | None:
        with self._lock:
            queue = self.routes.get(path)
            if not queue:
                return None
            i = self._served.get(path, 0)
            self._served[path] = i + 1
            return queue[min(i, len(queue) - 1)]

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def __enter__(self) -> "RecordedServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
                with server._lock:
                    server.requests.append(Recorded(url.path, query))
                answer = server.next_answer(url.path)
                if answer is None:
                    answer = Answer(404, b"not recorded", "text/plain")
                if answer.stall_s:
                    # wait in small steps so the server can stop promptly
                    end = time.monotonic() + answer.stall_s
                    while time.monotonic() < end and not server._stop.is_set():
                        time.sleep(0.01)
                body = answer.body(query) if callable(answer.body) else answer.body
                body = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(body)))
                    if answer.truncate_to is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body if answer.truncate_to is None else body[:answer.truncate_to])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if answer.truncate_to is not None:
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
