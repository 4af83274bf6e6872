"""A small JSON-over-HTTP server on the standard library, with routes and a bearer token.

Each module, and the control port, is one ``Service``: a ``ThreadingHTTPServer`` that can
be stopped and started again on the same port. Stopping is how ``module-crash`` looks from
outside: the listening socket closes (new connections are refused) and open keep-alive
connections are cut, as when a process dies.
"""

import hmac
import json
import re
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import MethodNotAllowed, NotFound, SimulatorError, TooLarge, Unauthorized

MAX_BODY_BYTES = 1 << 20
# An oversized body up to this size is read and thrown away before answering 413: a client
# still sending when the server closes would see a reset instead of the answer.
DISCARD_BYTES = 16 << 20


@dataclass
class Request:
    """What a route handler sees."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None if empty. Any content type is accepted: the runbooks'
        ``curl -d '{...}'`` sends JSON labelled as a form."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SimulatorError(f"body is not valid JSON: {exc}") from None

    def int_arg(self, name: str, default: int, minimum: int, maximum: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SimulatorError(f"{name} must be a whole number", got=raw) from None
        if not minimum <= value <= maximum:
            raise SimulatorError(f"{name} must be between {minimum} and {maximum}", got=value)
        return value


@dataclass
class Response:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return (json.dumps(self.body, default=str) + "\n").encode()


Handler = Callable[[Request], Response | Any]


class Router:
    """Method + path pattern -> handler. ``{name}`` in a pattern matches one segment."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []
        # Path prefix -> the module that serves it, for a helpful 404 elsewhere.
        self.elsewhere: dict[str, str] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, pattern, re.compile(regex), handler))

    def endpoints(self) -> list[str]:
        return [f"{method} {pattern}" for method, pattern, _, _ in self._routes]

    def dispatch(self, request: Request) -> Response:
        allowed: list[str] = []
        for method, _, regex, handler in self._routes:
            match = regex.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.params = {k: unquote(v) for k, v in match.groupdict().items()}
            result = handler(request)
            return result if isinstance(result, Response) else Response(body=result)
        if allowed:
            raise MethodNotAllowed(
                f"{request.method} is not allowed on {request.path}", allowed=sorted(allowed)
            )
        for prefix, owner in self.elsewhere.items():
            if request.path.startswith(prefix):
                raise NotFound(f"{prefix} is served by {owner}, not {self.service}")
        raise NotFound(f"no endpoint {request.path} on {self.service}; GET / lists them")


class JsonServer(ThreadingHTTPServer):
    """Tracks its open connections so that a crash can cut them."""

    daemon_threads = True
    # Joining handler threads on close would wait on idle keep-alive connections.
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        router: Router,
        token: str | None,
        protected: Callable[[str], bool],
        access_log: bool,
    ) -> None:
        self.router = router
        self.token = token
        self.protected = protected
        self.access_log = access_log
        self.local = threading.local()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with getfqdn, which can stall for
        # seconds on a machine without DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Cut every open connection except the one answering right now, which closes
        after its response (so ``POST /admin/faults`` for module-crash still answers)."""
        current = getattr(self.local, "handler", None)
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            if current is not None and conn is current.connection:
                current.close_connection = True
                continue
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pipeline-simulator"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 30
    server: JsonServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        self.server.local.handler = self
        try:
            response = self._respond()
        except SimulatorError as exc:
            response = error_response(exc)
        except Exception:  # a bug must not take the module down: answer 500 and go on
            traceback.print_exc(file=sys.stderr)
            response = Response(500, {"error": "internal", "message": "unexpected error"})
        finally:
            self.server.local.handler = None
        self._send(response)

    def _respond(self) -> Response:
        body = self._read_body()
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if self.server.token and self.server.protected(path):
            self._check_token()
        request = Request(self.command, path, query, self.headers, body)
        return self.server.router.dispatch(request)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise SimulatorError("chunked bodies are not supported; send Content-Length")
        raw = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            self.close_connection = True
            raise SimulatorError("Content-Length is not a number") from None
        if length < 0:
            self.close_connection = True
            raise SimulatorError("Content-Length is negative")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            if length <= DISCARD_BYTES:
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 16))
                    if not chunk:
                        break
                    length -= len(chunk)
            raise TooLarge(f"body over {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES)
        return self.rfile.read(length) if length else b""

    def _check_token(self) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        expected = self.server.token or ""
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected.encode()
        ):
            raise Unauthorized("admin endpoints need 'Authorization: Bearer <token>'")

    def _send(self, response: Response) -> None:
        payload = response.encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib calls this for requests too malformed to route; answer in JSON."""
        self.close_connection = True
        body = {"error": "bad_request", "message": message or explain or "malformed request"}
        payload = (json.dumps(body) + "\n").encode()
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(payload)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.access_log:
            super().log_message(format, *args)


def error_response(exc: SimulatorError) -> Response:
    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if exc.details:
        body["details"] = exc.details
    headers = {}
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.details.get("allowed", []))  # type: ignore[arg-type]
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="pipeline-simulator"'
    return Response(exc.status, body, headers=headers)


class Service:
    """One HTTP service that can be stopped (crashed) and started again on its port."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        router: Router,
        token: str | None = None,
        protected: Callable[[str], bool] = lambda path: path.startswith("/admin"),
        access_log: bool = False,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.router = router
        self.token = token
        self.protected = protected
        self.access_log = access_log
        self._server: JsonServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        with self._lifecycle:
            if self._server is not None:
                return
            server = JsonServer(
                (self.host, self.port), self.router, self.token, self.protected, self.access_log
            )
            # After the first bind, keep the port the OS chose so a revive reuses it.
            self.port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"http-{self.name}",
                daemon=True,
            )
            self._server = server
            self._thread.start()

    def stop(self) -> None:
        with self._lifecycle:
            server, self._server = self._server, None
            if server is None:
                return
            server.shutdown()
            server.server_close()
            server.cut_connections()
