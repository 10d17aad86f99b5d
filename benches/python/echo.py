"""The echo server of `bench` on CPython's asyncio (the model wasio follows) and on uvloop.

    python3 echo.py [--api streams|protocol] [--loop asyncio|uvloop] [HOST:PORT]

The same ground rules as the other contenders: 64 KiB reads, a backlog of 1024, TCP_NODELAY
(asyncio sets it on every TCP transport), `listening on ADDR` printed first. `streams` is what
an asyncio user writes (`start_server`, a task per connection, `read` / `write` / `drain`);
`protocol` is asyncio's lowest level (`create_server` with a `Protocol` whose `data_received`
writes back), which is what uvloop is measured with too.
"""

import argparse
import asyncio
import sys

BUF = 64 * 1024
BACKLOG = 1024


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def echo_stream(reader, writer):
    try:
        while True:
            data = await reader.read(BUF)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(api, host, port):
    loop = asyncio.get_running_loop()
    if api == "streams":
        server = await asyncio.start_server(
            echo_stream, host, port, backlog=BACKLOG, limit=BUF
        )
    else:
        server = await loop.create_server(Echo, host, port, backlog=BACKLOG)
    addr = server.sockets[0].getsockname()
    print(f"listening on {addr[0]}:{addr[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", choices=["streams", "protocol"], default="streams")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("addr", nargs="?", default="127.0.0.1:0")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    try:
        runner(main(args.api, host, int(port)))
    except KeyboardInterrupt:
        sys.exit(0)
