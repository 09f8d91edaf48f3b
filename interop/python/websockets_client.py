"""Python websockets client against lariat's echo server.

interop/interop_test.go starts the server and passes its config, as JSON,
as the last argument. Prints one line per check: "PASS name",
"FAIL name: why" or "SKIP name: why"; exits 1 if any check failed.

Written for the asyncio API, which every websockets release has: Debian
bookworm ships 10.4, whose websockets.connect is the legacy implementation
(websockets.sync arrived in 11.0); from 14.0 the same name is the new
asyncio implementation. The few differences are bridged below.
"""

import asyncio
import json
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

cfg = json.loads(sys.argv[-1])
STEP = 15.0  # bound on each wait, in seconds; only a hang comes near it
MAX_SIZE = 16 << 20

failures = 0


def report(status, name, detail=""):
    print(f"{status} {name}" + (f": {detail}" if detail else ""), flush=True)


class Skip(Exception):
    pass


async def check(name, fn):
    global failures
    started = time.monotonic()
    try:
        detail = await asyncio.wait_for(fn(), 4 * STEP)
        report("PASS", name, f"{detail + ' ' if detail else ''}({time.monotonic() - started:.2f}s)")
    except Skip as e:
        report("SKIP", name, str(e))
    except asyncio.TimeoutError:
        failures += 1
        report("FAIL", name, "timed out")
    except Exception as e:  # a failed check, whatever raised it
        failures += 1
        report("FAIL", name, f"{type(e).__name__}: {e}")


def connect(case, query="", **kw):
    kw.setdefault("compression", None)
    kw.setdefault("max_size", MAX_SIZE)
    kw.setdefault("open_timeout", STEP)
    kw.setdefault("close_timeout", STEP)
    return websockets.connect(f"{cfg['url']}?case={case}{query}", **kw)


def response_header(ws, name):
    """A response header of the opening handshake, in both APIs."""
    headers = getattr(ws, "response_headers", None)  # legacy (<14)
    if headers is None:
        headers = ws.response.headers  # new asyncio (>=14)
    return headers.get(name)


def extensions(ws):
    ext = getattr(ws, "extensions", None)  # legacy
    if ext is None:
        ext = ws.protocol.extensions  # new asyncio
    return ext


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), STEP)


async def expect(ws, want):
    got = await recv(ws)
    if type(got) is not type(want):
        raise AssertionError(f"got {type(got).__name__} message, want {type(want).__name__}")
    if got != want:
        raise AssertionError(f"message differs: got {len(got)} {unit(got)} {preview(got)}, want {len(want)} {unit(want)} {preview(want)}")


def unit(m):
    return "characters" if isinstance(m, str) else "bytes"


def preview(m):
    return repr(m[:24]) + ("…" if len(m) > 24 else "")


async def bye(ws):
    await ws.close(1000)
    if ws.close_code != 1000:
        raise AssertionError(f"closed with 1000, the server answered {ws.close_code}")


async def closed_with(ws):
    """Waits for the server's close and returns its code and reason."""
    try:
        m = await recv(ws)
        raise AssertionError(f"got a message {preview(m)}, want a close")
    except ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason


def utf8_text(n):
    """Exactly n bytes of UTF-8 with 1- to 4-byte characters."""
    s = "λx€😀" * (n // 10)  # 2 + 1 + 3 + 4 bytes
    return s + "z" * (n - len(s.encode()))


def pattern(n, seed=7):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = x >> 24
    return bytes(out)


async def text_echo():
    async with connect("text") as ws:
        await ws.send("héllo, lariat ✓")
        await expect(ws, "héllo, lariat ✓")
        await bye(ws)


async def binary_echo():
    async with connect("binary") as ws:
        await ws.send(bytes(range(256)))
        await expect(ws, bytes(range(256)))
        await bye(ws)


async def ping_pong():
    async with connect("ping") as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, STEP)
        await bye(ws)


async def fragmented_text():
    async with connect("fragmented-text") as ws:
        # websockets sends an iterable as one fragmented message. Its
        # fragments are str, so no character is split; the server still
        # reassembles and validates across frames.
        parts = ["fragments: ", "€", "uro", "", " ✓"]
        await ws.send(parts)
        await expect(ws, "".join(parts))
        await bye(ws)
    return f"{len(parts)} frames, one empty"


async def fragmented_binary():
    async with connect("fragmented-binary") as ws:
        parts = [pattern(1000, 1), pattern(5000, 2), pattern(3, 3)]
        await ws.send(parts)
        await expect(ws, b"".join(parts))
        await bye(ws)
    return f"{len(parts)} frames"


async def ping_between_fragments():
    async with connect("ping-between-fragments") as ws:
        pong = None

        async def parts():
            nonlocal pong
            yield "first half, "
            pong = await ws.ping(b"mid")  # a control frame inside the message
            yield "second half"

        await ws.send(parts())
        await asyncio.wait_for(pong, STEP)
        await expect(ws, "first half, second half")
        await bye(ws)


async def large_text():
    s = utf8_text(cfg["maxMessage"])
    async with connect("large-text") as ws:
        await ws.send(s)
        await expect(ws, s)
        await bye(ws)
    return f"{cfg['maxMessage']} bytes, the server's limit"


async def large_binary():
    b = pattern(cfg["maxMessage"])
    async with connect("large-binary") as ws:
        await ws.send([b[:300000], b[300000:]])
        await ws.send(b)
        await expect(ws, b)
        await expect(ws, b)
        await bye(ws)
    return f"{cfg['maxMessage']} bytes, in 2 fragments and in 1 frame"


async def too_big_fragments():
    async with connect("too-big-fragments") as ws:
        # The first fragment fills the limit exactly; one more byte exceeds it.
        await ws.send([pattern(cfg["maxMessage"]), b"!"])
        code, reason = await closed_with(ws)
        if code != 1009:
            raise AssertionError(f"got close {code} {reason!r}, want 1009")
    return f"{cfg['maxMessage']} + 1 bytes in 2 fragments answered with close 1009"


async def too_big():
    async with connect("too-big") as ws:
        await ws.send(pattern(cfg["maxMessage"] + 1))
        code, reason = await closed_with(ws)
    if code != 1009:
        raise AssertionError(f"got close {code} {reason!r}, want 1009")
    return f"{cfg['maxMessage'] + 1} bytes answered with close 1009"


async def subprotocol():
    async with connect("subprotocol", subprotocols=cfg["protocols"]) as ws:
        if ws.subprotocol != cfg["wantProtocol"]:
            raise AssertionError(f"offered {cfg['protocols']}, got {ws.subprotocol!r}, want {cfg['wantProtocol']}")
        await ws.send(cfg["commands"]["protocol"])
        await expect(ws, cfg["wantProtocol"])
        await bye(ws)
    return f"offered {', '.join(cfg['protocols'])}; server chose {cfg['wantProtocol']}"


async def no_common_subprotocol():
    async with connect("no-common-subprotocol", subprotocols=["no-such-protocol"]) as ws:
        if ws.subprotocol is not None:
            raise AssertionError(f"offered only an unknown protocol, got {ws.subprotocol!r}")
        await bye(ws)


def deflate_check(case, factory, must_echo="", query=""):
    async def run():
        kw = {"compression": "deflate"} if factory is None else {"extensions": [factory]}
        async with connect(case, query, **kw) as ws:
            ext = response_header(ws, "Sec-WebSocket-Extensions")
            if not extensions(ws):
                if cfg["deflate"]:
                    raise AssertionError(f"the server negotiates permessage-deflate, but answered this offer with {ext!r}")
                await deflate_traffic(ws)
                await bye(ws)
                raise Skip("the server does not answer with Sec-WebSocket-Extensions yet (Options.Compress); echo without compression works")
            if not cfg["deflate"]:
                raise AssertionError(f"the probe found no compression, but this offer got {ext}")
            for p in must_echo.split():
                if p not in ext:
                    raise AssertionError(f"expected {p} in the answer {ext}")
            await deflate_traffic(ws)
            await bye(ws)
        return f"negotiated {ext}"

    return run


async def deflate_traffic(ws):
    """Messages that exercise both compressors: one compressible message
    repeated (context takeover), one below the server's minimum size, an
    incompressible one, a long text, and a fragmented one."""
    text = "lariat compresses this line well. " * 300
    msgs = [text, text, text + "!", "short", pattern(70000, 11), utf8_text(200000)]
    for m in msgs:
        await ws.send(m)
    await ws.send([text, "and the end"])
    for m in msgs:
        await expect(ws, m)
    await expect(ws, text + "and the end")


async def close_with_code():
    async with connect("close") as ws:
        await ws.close(cfg["closeCode"], cfg["closeReason"])
        if ws.close_code != cfg["closeCode"]:
            raise AssertionError(f"sent {cfg['closeCode']}, the server answered {ws.close_code}")
    return f"sent {cfg['closeCode']} {cfg['closeReason']!r}; the server echoed the code"


async def server_close():
    want = cfg["serverClose"]
    async with connect("server-close") as ws:
        await ws.send("before the command")
        await ws.send(cfg["commands"]["close"])
        await expect(ws, "before the command")
        code, reason = await closed_with(ws)
        if (code, reason) != (want["code"], want["reason"]):
            raise AssertionError(f"got close {code} {reason!r}, want {want['code']} {want['reason']!r}")
    return f"got {code} {reason!r}"


async def main():
    print(f"websockets {websockets.__version__}, Python {sys.version.split()[0]}", flush=True)
    await check("text echo", text_echo)
    await check("binary echo", binary_echo)
    await check("ping and pong", ping_pong)
    await check("fragmented text", fragmented_text)
    await check("fragmented binary", fragmented_binary)
    await check("ping between fragments", ping_between_fragments)
    await check("large text", large_text)
    await check("large binary", large_binary)
    await check("too big after reassembly", too_big_fragments)
    await check("too big in one frame", too_big)
    await check("subprotocol", subprotocol)
    await check("no common subprotocol", no_common_subprotocol)
    await check("deflate defaults", deflate_check("deflate-defaults", None))
    await check("deflate server_no_context_takeover", deflate_check(
        "deflate-snct", ClientPerMessageDeflateFactory(server_no_context_takeover=True), "server_no_context_takeover"))
    await check("deflate client_no_context_takeover", deflate_check(
        "deflate-cnct", ClientPerMessageDeflateFactory(client_no_context_takeover=True), "client_no_context_takeover"))
    await check("deflate server_max_window_bits", deflate_check(
        "deflate-smwb", ClientPerMessageDeflateFactory(server_max_window_bits=10), "server_max_window_bits"))
    await check("deflate client_max_window_bits", deflate_check(
        "deflate-cmwb", ClientPerMessageDeflateFactory(client_max_window_bits=10)))
    await check("deflate all parameters", deflate_check(
        "deflate-all",
        ClientPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True,
                                       server_max_window_bits=9, client_max_window_bits=9),
        "server_no_context_takeover client_no_context_takeover"))
    await check("deflate server-side parameters", deflate_check(
        "deflate-tight", None,
        "server_no_context_takeover client_no_context_takeover server_max_window_bits=10 client_max_window_bits=10",
        "&deflate=tight"))
    await check("close with code and reason", close_with_code)
    await check("server-initiated close", server_close)


asyncio.run(main())
sys.exit(1 if failures else 0)
