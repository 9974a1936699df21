"""A TCP proxy that delays every byte by a fixed time in each direction: the network delay
between the regions of test_regions.py, since this kernel has no `netem` qdisc.
Test-only.

    python3 delayproxy.py LISTEN_HOST:PORT=TARGET_HOST:PORT=ONE_WAY_MS [...]

Each link is a listening address, the address it forwards to, and the one-way delay
added to every chunk in both directions (so a round trip costs twice that). Order is kept;
a connection's setup costs one round trip, as TCP's does. Prints `ready` once every
link listens; runs until killed.
"""

from __future__ import annotations

import asyncio
import sys
import time

CHUNK = 64 * 1024


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk delivered `delay` seconds after it arrived."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=256)

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
    finally:
        writer.close()


def link(target_host: str, target_port: int, delay: float):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * delay)  # the handshake's round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pump(reader, up_writer, delay), pump(up_reader, writer, delay),
                             return_exceptions=True)
    return handle


async def main(specs: list[str]) -> None:
    servers = []
    for spec in specs:
        listen, target, ms = spec.split("=")
        lhost, lport = listen.rsplit(":", 1)
        thost, tport = target.rsplit(":", 1)
        servers.append(await asyncio.start_server(link(thost, int(tport), float(ms) / 1000),
                                                  lhost, int(lport)))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
