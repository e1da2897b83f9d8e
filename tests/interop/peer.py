"""Python `websockets` as an independent peer of wsbolt (interop suite).

  peer.py server PORT          echo server (permessage-deflate on, 16 MiB limit)
  peer.py client URL           16 MiB of random bytes must echo intact; then
                               16 MiB + 1 must be refused with a visible 1009

Prints one JSON line per check; exits 1 if one failed.
"""
import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

LIMIT = 16 * 1024 * 1024


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def run_server(port):
    async with serve(echo, "127.0.0.1", port, max_size=LIMIT, compression="deflate"):
        print(json.dumps({"listening": port}), flush=True)
        await asyncio.Future()


async def run_client(url):
    ok = True
    data = os.urandom(LIMIT)
    async with connect(url, max_size=LIMIT + 1024, compression="deflate", open_timeout=10) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await ws.send(data)
        back = await asyncio.wait_for(ws.recv(), 60)
        good = back == data and "permessage-deflate" in ext
        ok &= good
        print(json.dumps({"check": "16 MiB incompressible echo", "extensions": ext, "ok": good}), flush=True)
        # A compressible message three times: with context takeover the
        # repeats refer back to the first; without it (when the server asks
        # for client_no_context_takeover) each stands alone.
        text = json.dumps([{"user": f"u{i % 7}", "text": f"message {i} in the lobby"} for i in range(2000)])
        good = True
        for _ in range(3):
            await ws.send(text)
            good &= await asyncio.wait_for(ws.recv(), 30) == text
        ok &= good
        print(json.dumps({"check": "compressible text echoed 3 times", "bytes": len(text), "ok": good}), flush=True)
    code = None
    try:
        async with connect(url, max_size=LIMIT + 1024, compression="deflate", open_timeout=10) as ws:
            await ws.send(os.urandom(LIMIT + 1))
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
    good = code == 1009
    ok &= good
    print(json.dumps({"check": "oversized message closes with 1009", "received": code, "ok": good}), flush=True)
    return ok


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "server":
        asyncio.run(run_server(int(arg)))
    else:
        sys.exit(0 if asyncio.run(run_client(arg)) else 1)


if __name__ == "__main__":
    main()
