"""Small real HTTP backends standing in for site VIPs: ``GET /`` answers 200 with a body naming the backend.

Each backend is a thread of the calling process with its own listening socket, so a test can kill it (the
socket is closed: connects are refused at once, as when a VIP dies) and restart it on the same address. The
health checks of ``gslb serve`` and the clients of the stale-window experiment reach it over real TCP.
"""

from __future__ import annotations

import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

HTTP_PORT = 80


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = f"backend {self.server.backend_name}\n".encode()
        self.send_response(HTTPStatus.OK if self.path == "/" else HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request on stderr would drown the test output; the count is enough.
        with self.server.lock:
            self.server.requests += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # rebind at once after a kill, whatever TIME_WAIT is left
    backend_name: str
    lock: threading.Lock
    requests: int

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A health checker may hang up once it has the status line (gdnsd's does): not an error here.
        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            super().handle_error(request, client_address)


class HttpBackend:
    """One backend on ``host``:``port``; ``start()``, ``kill()`` and ``start()`` again, or use ``with``.

    ``body`` is what ``GET /`` returns: ``backend NAME``. ``requests`` counts the requests answered over
    every run, health checks included.
    """

    def __init__(self, name: str, host: str, port: int = HTTP_PORT) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._past_requests = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def body(self) -> str:
        return f"backend {self.name}\n"

    @property
    def requests(self) -> int:
        if self._server is None:
            return self._past_requests
        with self._server.lock:
            return self._past_requests + self._server.requests

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen and serve in a thread; binding fails loudly (OSError) if the address cannot be had."""
        if self._server is not None:
            raise RuntimeError(f"backend {self.name} is already running")
        server = _Server((self.host, self.port), _Handler)
        server.backend_name = self.name
        server.lock = threading.Lock()
        server.requests = 0
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"http-{self.name}", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread

    def kill(self) -> None:
        """Stop listening: from now on a connect to the address is refused. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)
        self._past_requests += server.requests

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()
