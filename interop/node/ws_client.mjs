// Node's ws client against lariat's echo server (started by
// interop/interop_test.go, which passes its config as the last argument).
// Prints one line per check: "PASS name", "FAIL name: why" or
// "SKIP name: why"; exits 1 if any check failed.
import { WebSocket } from "ws";

const cfg = JSON.parse(process.argv.at(-1));
const STEP_MS = 15000; // bound on each wait; only a hang comes near it

let failures = 0;
let started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
const pass = (name, detail) => console.log(`PASS ${name}: ${detail ? detail + " " : ""}(${elapsed()})`);
const fail = (name, why) => { failures++; console.log(`FAIL ${name}: ${why}`); };
const skip = (name, why) => console.log(`SKIP ${name}: ${why}`);

// within rejects if p does not settle in time, saying what was awaited.
function within(p, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// A connection whose incoming events are queued, so a check can await
// them in order.
class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    ws.on("message", (data, isBinary) => this.push({ type: "message", data, isBinary }));
    ws.on("pong", (data) => this.push({ type: "pong", data }));
    ws.on("close", (code, reason) => this.push({ type: "close", code, reason: reason.toString() }));
    ws.on("error", (err) => this.push({ type: "error", err }));
  }
  push(ev) {
    const w = this.waiters.shift();
    if (w) w(ev); else this.queue.push(ev);
  }
  next(what) {
    const ev = this.queue.shift();
    if (ev) return Promise.resolve(ev);
    return within(new Promise((resolve) => this.waiters.push(resolve)), what);
  }
  // message waits for the next data message and checks it.
  async message(want, isBinary) {
    const ev = await this.next(`a ${isBinary ? "binary" : "text"} message`);
    if (ev.type !== "message") throw new Error(`got ${describe(ev)}, want a message`);
    if (ev.isBinary !== isBinary) throw new Error(`got a ${ev.isBinary ? "binary" : "text"} message, want ${isBinary ? "binary" : "text"}`);
    if (!Buffer.from(want).equals(ev.data)) throw new Error(`message differs: got ${ev.data.length} bytes ${preview(ev.data)}, want ${Buffer.byteLength(want)} bytes ${preview(Buffer.from(want))}`);
  }
  // closed waits for the close event and checks the code the server sent.
  async closed(code, reason) {
    const ev = await this.next(`close ${code}`);
    if (ev.type !== "close") throw new Error(`got ${describe(ev)}, want close ${code}`);
    if (ev.code !== code || (reason !== undefined && ev.reason !== reason)) {
      throw new Error(`got close ${ev.code} ${JSON.stringify(ev.reason)}, want ${code}${reason !== undefined ? " " + JSON.stringify(reason) : ""}`);
    }
    return ev;
  }
  // bye closes normally and waits for the server's answer.
  async bye() {
    this.ws.close(1000);
    await this.closed(1000);
  }
}

function describe(ev) {
  switch (ev.type) {
    case "message": return `a ${ev.isBinary ? "binary" : "text"} message of ${ev.data.length} bytes`;
    case "close": return `close ${ev.code} ${JSON.stringify(ev.reason)}`;
    case "error": return `error: ${ev.err.message}`;
    default: return ev.type;
  }
}

function preview(b) {
  const s = b.subarray(0, 24).toString("hex");
  return b.length > 24 ? s + "…" : s;
}

// open connects as case name; it resolves after the handshake, with the
// response headers.
function open(name, options = {}, query = "") {
  const { protocols, ...rest } = options;
  const url = `${cfg.url}?case=${encodeURIComponent(name)}${query}`;
  const ws = new WebSocket(url, protocols ?? [], { perMessageDeflate: false, ...rest });
  const c = new Client(ws);
  let headers = {};
  ws.on("upgrade", (res) => { headers = res.headers; });
  return within(new Promise((resolve, reject) => {
    ws.once("open", () => { c.headers = headers; resolve(c); });
    ws.once("error", reject);
    ws.once("unexpected-response", (_, res) => reject(new Error(`handshake answered ${res.statusCode} ${res.statusMessage}`)));
  }), "the opening handshake").catch((err) => { ws.terminate(); throw err; });
}

async function check(name, fn) {
  started = Date.now();
  try {
    const detail = await fn();
    if (typeof detail === "object" && detail?.skip) skip(name, detail.skip);
    else pass(name, detail);
  } catch (err) {
    fail(name, err.message);
  }
}

// sendFragments sends parts as one message of type binary, fragment by
// fragment (ws sends fin: false frames, then a continuation with fin set).
function sendFragments(ws, parts, binary, extra = {}) {
  parts.forEach((p, i) => ws.send(p, { binary, fin: i === parts.length - 1, ...extra }));
}

// exactly n bytes of UTF-8 with 1-, 2-, 3- and 4-byte characters, so that
// reads and frames split characters.
function utf8Text(n) {
  const unit = "λx€😀"; // 2 + 1 + 3 + 4 bytes
  const s = unit.repeat(Math.floor(n / 10));
  return s + "z".repeat(n - Buffer.byteLength(s));
}

// pattern returns n bytes of noise, which does not compress (a 32-bit
// linear congruential generator; Math.imul keeps the product exact).
function pattern(n, seed = 7) {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

await check("text echo", async () => {
  const c = await open("text");
  const s = "héllo, lariat ✓";
  c.ws.send(s);
  await c.message(s, false);
  await c.bye();
});

await check("binary echo", async () => {
  const c = await open("binary");
  const b = Buffer.from([...Array(256).keys()]);
  c.ws.send(b);
  await c.message(b, true);
  await c.bye();
});

await check("empty messages", async () => {
  const c = await open("empty");
  c.ws.send("");
  c.ws.send(Buffer.alloc(0));
  await c.message("", false);
  await c.message(Buffer.alloc(0), true);
  await c.bye();
});

await check("ping and pong", async () => {
  const c = await open("ping");
  c.ws.ping(Buffer.from("are you there"));
  const ev = await c.next("a pong");
  if (ev.type !== "pong" || ev.data.toString() !== "are you there") throw new Error(`got ${describe(ev)} ${ev.data ?? ""}, want pong "are you there"`);
  await c.bye();
});

await check("fragmented text", async () => {
  const c = await open("fragmented-text");
  // "€" is e2 82 ac: the fragments cut it after its first byte and
  // between the others, so the server must validate UTF-8 across frames.
  const whole = Buffer.from("fragments: €uro");
  const cut = whole.indexOf(0xe2) + 1;
  sendFragments(c.ws, [whole.subarray(0, cut), whole.subarray(cut, cut + 1), whole.subarray(cut + 1)], false);
  await c.message(whole, false);
  await c.bye();
  return "3 frames, a character split across them";
});

await check("fragmented binary", async () => {
  const c = await open("fragmented-binary");
  const parts = [pattern(1000, 1), Buffer.alloc(0), pattern(5000, 2), pattern(3, 3)];
  sendFragments(c.ws, parts, true);
  await c.message(Buffer.concat(parts), true);
  await c.bye();
  return "4 frames, one empty";
});

await check("ping between fragments", async () => {
  const c = await open("ping-between-fragments");
  c.ws.send("first half, ", { fin: false });
  c.ws.ping(Buffer.from("mid"));
  c.ws.send("second half", { fin: true });
  const ev = await c.next("a pong");
  if (ev.type !== "pong" || ev.data.toString() !== "mid") throw new Error(`got ${describe(ev)}, want pong "mid" first`);
  await c.message("first half, second half", false);
  await c.bye();
});

await check("large text", async () => {
  const c = await open("large-text");
  const s = utf8Text(cfg.maxMessage);
  c.ws.send(s);
  await c.message(s, false);
  await c.bye();
  return `${cfg.maxMessage} bytes, the server's limit`;
});

await check("large binary", async () => {
  const c = await open("large-binary");
  const b = pattern(cfg.maxMessage);
  sendFragments(c.ws, [b.subarray(0, 300000), b.subarray(300000)], true);
  c.ws.send(b);
  await c.message(b, true);
  await c.message(b, true);
  await c.bye();
  return `${cfg.maxMessage} bytes, in 2 fragments and in 1 frame`;
});

await check("too big after reassembly", async () => {
  const c = await open("too-big-fragments");
  // The first fragment fills the limit exactly; one more byte exceeds it.
  sendFragments(c.ws, [pattern(cfg.maxMessage), Buffer.from("!")], true);
  await c.closed(1009);
  return `${cfg.maxMessage} + 1 bytes in 2 fragments answered with close 1009`;
});

await check("too big in one frame", async () => {
  const c = await open("too-big");
  c.ws.send(pattern(cfg.maxMessage + 1));
  const ev = await c.next("close 1009");
  if (ev.type === "close" && ev.code === 1009) return `${cfg.maxMessage + 1} bytes answered with close 1009`;
  throw new Error(`got ${describe(ev)}, want close 1009`);
});

await check("subprotocol", async () => {
  const c = await open("subprotocol", { protocols: cfg.protocols });
  if (c.ws.protocol !== cfg.wantProtocol) throw new Error(`offered ${cfg.protocols}, got ${JSON.stringify(c.ws.protocol)}, want ${cfg.wantProtocol}`);
  c.ws.send(cfg.commands.protocol);
  await c.message(cfg.wantProtocol, false);
  await c.bye();
  return `offered ${cfg.protocols.join(", ")}; server chose ${c.ws.protocol}`;
});

await check("no subprotocol", async () => {
  const c = await open("no-subprotocol");
  if (c.ws.protocol !== "" || c.headers["sec-websocket-protocol"] !== undefined) {
    throw new Error(`offered none, got ${JSON.stringify(c.headers["sec-websocket-protocol"])}`);
  }
  await c.bye();
});

// The permessage-deflate parameter sets ws supports. threshold: 0 makes ws
// compress every message, however small.
const deflateCases = [
  ["deflate defaults", {}, ""],
  ["deflate serverNoContextTakeover", { serverNoContextTakeover: true }, "server_no_context_takeover"],
  ["deflate clientNoContextTakeover", { clientNoContextTakeover: true }, "client_no_context_takeover"],
  ["deflate serverMaxWindowBits", { serverMaxWindowBits: 10 }, "server_max_window_bits"],
  ["deflate clientMaxWindowBits", { clientMaxWindowBits: 10 }, ""],
  ["deflate all parameters", { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 }, "server_no_context_takeover"],
];

// deflateTraffic sends messages that exercise the compressor: a
// compressible one repeated (context takeover), one below the server's
// minimum size, an incompressible one, and a fragmented compressed one.
async function deflateTraffic(c) {
  const text = "lariat compresses this line well. ".repeat(300);
  const noise = pattern(70000, 11);
  const msgs = [[text, false], [text, false], [text + "!", false], ["short", false], [noise, true], [utf8Text(200000), false]];
  for (const [m, bin] of msgs) c.ws.send(m, { binary: bin });
  sendFragments(c.ws, [Buffer.from(text), Buffer.from("and the end")], false);
  for (const [m, bin] of msgs) await c.message(m, bin);
  await c.message(text + "and the end", false);
}

for (const [name, opts, mustEcho] of deflateCases) {
  await check(name, async () => {
    const c = await open(name.replace(/ /g, "-"), { perMessageDeflate: { ...opts, threshold: 0 } });
    const ext = c.headers["sec-websocket-extensions"];
    if (!ext) {
      if (cfg.deflate) throw new Error("the server negotiates permessage-deflate, but answered this offer without Sec-WebSocket-Extensions");
      await deflateTraffic(c); // the declined offer must not break anything
      await c.bye();
      return { skip: "the server does not answer with Sec-WebSocket-Extensions yet (Options.Compress); echo without compression works" };
    }
    if (!cfg.deflate) throw new Error(`the probe found no compression, but this offer got ${ext}`);
    if (mustEcho && !ext.includes(mustEcho)) throw new Error(`offer asked for ${mustEcho}; server answered ${ext}`);
    await deflateTraffic(c);
    await c.bye();
    return `negotiated ${ext}`;
  });
}

await check("deflate incompressible message at the limit", async () => {
  const c = await open("deflate-at-limit", { perMessageDeflate: { threshold: 0 } });
  if (!c.headers["sec-websocket-extensions"]) {
    await c.bye();
    return { skip: "the server does not answer with Sec-WebSocket-Extensions yet (Options.Compress)" };
  }
  // Noise does not compress: on the wire it is a little longer than the
  // limit, inflated it is exactly the limit, which the server documents
  // as allowed ("after reassembly and inflation").
  const b = pattern(cfg.maxMessage, 13);
  c.ws.send(b);
  const ev = await c.next("the echo");
  if (ev.type !== "message" || !ev.isBinary || !b.equals(ev.data)) throw new Error(`got ${describe(ev)}, want the ${b.length}-byte echo`);
  await c.bye();
  return `${b.length} bytes of noise, compressed`;
});

await check("deflate server-side parameters", async () => {
  if (!cfg.tightDeflate) return { skip: "not configured" };
  const c = await open("deflate-tight", { perMessageDeflate: { threshold: 0 } }, "&deflate=tight");
  const ext = c.headers["sec-websocket-extensions"];
  if (!ext) {
    if (cfg.deflate) throw new Error("no Sec-WebSocket-Extensions in the answer");
    await c.bye();
    return { skip: "the server does not answer with Sec-WebSocket-Extensions yet (Options.Compress)" };
  }
  for (const p of ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=10", "client_max_window_bits=10"]) {
    if (!ext.includes(p)) throw new Error(`server policy has ${p}; its answer ${ext} lacks it`);
  }
  await deflateTraffic(c);
  await c.bye();
  return `negotiated ${ext}`;
});

await check("close with code and reason", async () => {
  const c = await open("close");
  c.ws.close(cfg.closeCode, cfg.closeReason);
  await c.closed(cfg.closeCode);
  return `sent ${cfg.closeCode} ${JSON.stringify(cfg.closeReason)}; the server echoed the code`;
});

await check("server-initiated close", async () => {
  const c = await open("server-close");
  c.ws.send("before the command");
  c.ws.send(cfg.commands.close);
  await c.message("before the command", false);
  await c.closed(cfg.serverClose.code, cfg.serverClose.reason);
  return `got ${cfg.serverClose.code} ${JSON.stringify(cfg.serverClose.reason)}`;
});

process.exitCode = failures ? 1 : 0;
