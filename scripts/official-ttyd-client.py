"""The official side of the cluster terminal benches: a ttyd client on the port of Backend.AI's
own `backend.ai app SESSION ttyd` proxy (run with the peer's venv, whose aiohttp speaks ttyd's
websocket). Prints JSON.

    official-ttyd-client.py PORT START COLS ROWS [--cat-only]

Without --cat-only: waits for the first prompt (seconds since START, a Unix time), makes the
50 MB file the Berth benches use and times its `cat`. With --cat-only the file is there (a
Berth window made it in the same session): it only times the `cat`.
"""
import asyncio, json, sys, time
import aiohttp

PORT, START, COLS, ROWS = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
CAT_ONLY = "--cat-only" in sys.argv[5:]
MAKE = b"head -c 50000000 /dev/zero | tr '\\0' x | fold -w 99 > /tmp/big; echo MADE-$((1+1))\r"
SETTLED = b"clear; echo SETTLED-$((2+2))\r"
CAT = b"clear; cat /tmp/big; echo; echo END-$((1+1))\r"


async def main():
    async with aiohttp.ClientSession() as http:
        while True:  # the proxy listens a moment after it starts
            try:
                ws = await http.ws_connect(f"http://127.0.0.1:{PORT}/ws", protocols=["tty"], max_msg_size=0)
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        await ws.send_bytes(json.dumps({"AuthToken": "", "columns": COLS, "rows": ROWS}).encode())
        seen = bytearray()
        received = 0

        async def until(marker):
            nonlocal received
            while marker not in seen:
                msg = await asyncio.wait_for(ws.receive(), 300)
                if msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                    if data[:1] == b"0":
                        received += len(data) - 1
                        seen.extend(data[1:])
                        del seen[: max(0, len(seen) - 65536)]
                else:
                    raise SystemExit(f"the terminal closed before {marker!r}: {msg.type}")
            del seen[: seen.index(marker) + len(marker)]

        figures = {}
        if CAT_ONLY:
            await ws.send_bytes(b"0" + SETTLED)
            await until(b"SETTLED-4")
        else:
            await until(b"$ ")
            figures["create_to_ready_s"] = time.time() - START
            await ws.send_bytes(b"0" + MAKE)
            await until(b"MADE-2")
        received = 0
        t = time.time()
        await ws.send_bytes(b"0" + CAT)
        await until(b"END-2")
        figures["cat_s"] = time.time() - t
        figures["cat_bytes_received"] = received
        print(json.dumps(figures))
        await ws.close()


asyncio.run(main())
