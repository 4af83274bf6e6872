"""A fake module: a local HTTP server whose /health and /metrics answers tests choose."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEALTHY = (200, "application/json", b'{"status": "HEALTHY", "checks": {}}')
METRICS = (
    200,
    "text/plain; version=0.0.4",
    b'# TYPE demo_total counter\ndemo_total{source="a"} 5\n'
    b"# TYPE demo_gauge gauge\ndemo_gauge 0.5\n",
)


class FakeModule:
    def __init__(self):
        self.routes = {"/health": HEALTHY, "/metrics": METRICS}
        self.slow_drip: float | None = None  # seconds between bytes (a slow-loris)
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Authorization", "")))
                status, content_type, body = fake.routes.get(self.path, (404, "text/plain", b""))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fake.slow_drip and self.path == "/metrics":
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(fake.slow_drip)
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
