"""Raw forwarding cost of the HttpTransport laneway ships (aiohttp) on one upstream.

The upstream is a minimal keep-alive HTTP/1.1 server on raw asyncio, in its own
process, that answers every POST with the same `chat.completion` body (the
spec example in tests/fixtures/openai). Each transport sends the same POSTs at
1 and 32 concurrent requests; we print req/s, p50, p99 and the client process's
CPU per request. Run:

    taskset -c 0 .venv/bin/python bench/bench_transport.py [--requests 4000] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from collections.abc import Callable
from pathlib import Path

from laneway.http import HttpTransport, default_transport

BODY = (
    Path(__file__).parents[1] / "tests" / "fixtures" / "openai" / "chat_completion.json"
).read_bytes()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
REQUEST_BODY = b'{"model":"gpt-4o","messages":[{"role":"user","content":"Hello!"}]}'


class Upstream(asyncio.Protocol):
    """Answers each complete request (headers + Content-Length body) with RESPONSE."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            head = self.buffer[:end]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.answer(head))

    def answer(self, head: bytes) -> bytes:
        """The response to a request with this head (request line and headers)."""
        return RESPONSE


def serve(sock: socket.socket, protocol: type[Upstream] = Upstream) -> None:
    """Answer on `sock` until killed (a child process's target); `protocol` answers."""
    _install_uvloop()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(protocol, sock=sock)
        await server.serve_forever()

    asyncio.run(main())


def _install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


async def run(transport: HttpTransport, url: str, total: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    remaining = total
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            response = await transport.post(url, headers=headers, body=REQUEST_BODY, timeout_s=10)
            latencies.append(time.perf_counter() - start)
            assert response.status == 200
            assert len(response.body) == len(BODY)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def bench(name: str, make: Callable[[], HttpTransport], url: str, total: int) -> None:
    for concurrency in (1, 32):
        transport = make()
        try:
            await run(transport, url, 300, concurrency)  # warm the pool
            start, cpu = time.perf_counter(), time.process_time()
            latencies = await run(transport, url, total, concurrency)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            await transport.aclose()
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1e6
        p99 = latencies[int(len(latencies) * 0.99)] * 1e6
        print(
            f"{name:<8} c={concurrency:<3} {total / elapsed:8.0f} req/s"
            f"   p50 {p50:7.0f} µs   p99 {p99:7.0f} µs   CPU {cpu / total * 1e6:5.0f} µs/request"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
    server = multiprocessing.get_context("fork").Process(target=serve, args=(sock,), daemon=True)
    server.start()
    if args.loop == "uvloop" and not _install_uvloop():
        print("uvloop not installed; using asyncio")
    print(f"client loop: {args.loop}; {args.requests} requests per run")

    async def all_runs() -> None:
        makers: list[tuple[str, Callable[[], HttpTransport]]] = [
            ("aiohttp", default_transport),
        ]
        for name, make in makers:
            await bench(name, make, url, args.requests)

    try:
        asyncio.run(all_runs())
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
