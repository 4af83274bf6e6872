"""Many fake modules behind one local port, for the poller bench: /m<N>/health answers
HEALTHY JSON and /m<N>/metrics a small Prometheus exposition. A minimal asyncio HTTP/1.1
server with keep-alive, run in its own process so that it does not share the poller's core."""

import asyncio
import sys

HEALTH = b'{"status": "HEALTHY", "checks": {}}'
METRICS = "".join(
    f'# TYPE fake_metric_{i}_total counter\nfake_metric_{i}_total{{source="s{i}"}} {i * 10}\n'
    for i in range(20)
).encode()


def _response(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


RESPONSES = {
    b"health": _response(HEALTH, b"application/json"),
    b"metrics": _response(METRICS, b"text/plain; version=0.0.4"),
}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            writer.write(RESPONSES.get(path.rsplit(b"/", 1)[-1], NOT_FOUND))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print(f"fake modules on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
