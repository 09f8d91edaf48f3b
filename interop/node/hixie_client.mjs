// A hixie-76 (draft-hixie-thewebsocketprotocol-76, also published as
// draft-ietf-hybi-thewebsocketprotocol-00) or hixie-75 client against
// lariat's echo server with Upgrader.Legacy set (started by
// interop/hixie_test.go, which passes its config as the last argument;
// cfg.draft is 76 or 75).
//
// No maintained client speaks these drafts any more, so this one is
// written from the drafts' client rules (section 4 of each), with Node's
// net and crypto modules only. It is deliberately as strict as the drafts
// make a browser: anything the drafts tell a client to fail on is a FAIL
// here, and so is anything an echo server has no reason to send.
//
// Prints one line per check: "PASS name", "FAIL name: why" or
// "SKIP name: why"; exits 1 if any check failed. A failure names the bytes
// sent and received after the handshake, so a server bug can be replayed.
import net from "node:net";
import crypto from "node:crypto";

const cfg = JSON.parse(process.argv.at(-1));
const draft = cfg.draft;
if (draft !== 75 && draft !== 76) throw new Error(`config draft is ${cfg.draft}, want 75 or 76`);
const STEP_MS = 4000; // bound on each wait; only a hang comes near it

const target = new URL(cfg.url); // ws://127.0.0.1:port/echo
const host = target.host; // host:port, as the drafts' Host field has it
const origin = `http://${target.host}`; // a page served by the same host

let failures = 0;
let started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
const pass = (name, detail) => console.log(`PASS ${name}: ${detail ? detail + " " : ""}(${elapsed()})`);
const fail = (name, why) => { failures++; console.log(`FAIL ${name}: ${why}`); };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// within rejects if p does not settle in time, saying what was awaited.
function within(p, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function hex(b, max = 96) {
  const s = b.subarray(0, max).toString("hex").replace(/(..)/g, "$1 ").trim();
  return b.length > max ? `${s} … (${b.length} bytes)` : `${s || "nothing"}`;
}

// showHead shows an HTTP head as a JSON string, then what follows it in hex.
function showHead(b) {
  const i = b.indexOf("\r\n\r\n");
  if (i < 0) return b.length ? JSON.stringify(b.toString("latin1")) : "nothing";
  const rest = b.subarray(i + 4);
  return JSON.stringify(b.subarray(0, i + 4).toString("latin1")) + (rest.length ? ` then ${hex(rest)}` : "");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

// The connections opened by the running check: their transcripts go into
// its failure, and they are all destroyed when it ends.
let opened = [];

// Conn is one TCP connection, read as a byte stream: the handshake reads
// lines and fixed lengths, then frames (section 4.2 of the drafts).
class Conn {
  constructor(sock, name) {
    this.sock = sock;
    this.name = name;
    this.buf = Buffer.alloc(0);
    this.eof = false;
    this.err = null;
    this.wake = null;
    this.rx = []; // every byte received, in chunks
    this.tx = []; // every byte sent
    this.rxMark = 0; // where the handshake ended, in each direction
    this.txMark = 0;
    sock.on("data", (d) => { this.rx.push(d); this.buf = Buffer.concat([this.buf, d]); this.notify(); });
    sock.on("end", () => { this.eof = true; this.notify(); });
    sock.on("error", (err) => { this.err = err; this.notify(); });
    opened.push(this);
  }
  notify() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }
  send(b) {
    b = Buffer.from(b);
    this.tx.push(b);
    this.sock.write(b);
  }
  // sendParts writes parts one by one, gap ms apart, so that each leaves
  // in a TCP segment of its own (Nagle is off).
  async sendParts(parts, gap = 15) {
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) await sleep(gap);
      this.send(parts[i]);
    }
  }
  markHandshakeDone() {
    this.rxMark = Buffer.concat(this.rx).length - this.buf.length;
    this.txMark = Buffer.concat(this.tx).length;
    this.upgraded = true;
  }
  // transcript tells what went each way: after the handshake, in hex;
  // while it lasted, the heads as text and what followed them in hex.
  transcript() {
    const end = `${this.eof ? ", then the end of the stream" : ""}${this.err ? `, then ${this.err.code ?? this.err.message}` : ""}`;
    if (!this.upgraded) {
      return `[${this.name}: in the handshake sent ${showHead(Buffer.concat(this.tx))}; received ${showHead(Buffer.concat(this.rx))}${end}]`;
    }
    const sent = Buffer.concat(this.tx).subarray(this.txMark);
    const got = Buffer.concat(this.rx).subarray(this.rxMark);
    return `[${this.name}: after the handshake sent ${hex(sent)}; received ${hex(got)}${end}]`;
  }
  // more waits for bytes beyond the n already buffered.
  async more(n, what) {
    while (this.buf.length <= n) {
      if (this.err) throw new Error(`${this.err.code ?? this.err.message} while waiting for ${what}`);
      if (this.eof) throw new Error(`the server closed the connection while we waited for ${what}${this.buf.length ? ` (unread: ${hex(this.buf)})` : ""}`);
      await within(new Promise((resolve) => { this.wake = resolve; }), what);
    }
  }
  take(n) {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }
  async readN(n, what) {
    while (this.buf.length < n) await this.more(this.buf.length, what);
    return Buffer.from(this.take(n));
  }
  // readThrough reads up to and with the first byte b.
  async readThrough(b, what) {
    let i;
    while ((i = this.buf.indexOf(b)) < 0) await this.more(this.buf.length, what);
    return Buffer.from(this.take(i + 1));
  }

  // readFrame reads one frame as section 4.2 of the drafts has a client
  // do: a type byte; with its high bit set, a length in 7-bit groups and
  // that many bytes (type 0xFF with length 0 being hixie-76's closing
  // frame); with it clear, bytes up to 0xFF. At the start of a frame the
  // end of the stream is {kind: "eof"}.
  async readFrame(what) {
    if (this.buf.length === 0) {
      try {
        await this.more(0, what);
      } catch (err) {
        if (this.eof && !this.err && this.buf.length === 0) return { kind: "eof" };
        throw err;
      }
    }
    const type = this.take(1)[0];
    if (type & 0x80) {
      let length = 0;
      for (let n = 0; ; n++) {
        const [b] = await this.readN(1, `the length of a 0x${type.toString(16)} frame`);
        length = length * 128 + (b & 0x7f);
        if (!(b & 0x80)) break;
        if (n > 8) throw new Error(`a 0x${type.toString(16)} frame with a runaway length`);
      }
      if (type === 0xff && length === 0) return { kind: "close" };
      return { kind: "binary", type, data: await this.readN(length, `a ${length}-byte 0x${type.toString(16)} frame`) };
    }
    const body = await this.readThrough(0xff, `the 0xFF that ends a text frame`);
    return { kind: "text", type, data: body.subarray(0, -1) };
  }

  // text waits for a 0x00 frame holding exactly want, valid UTF-8.
  async text(want, what = "the echo") {
    want = Buffer.from(want);
    const f = await this.readFrame(`${what} (${want.length} bytes)`);
    if (f.kind !== "text" || f.type !== 0) throw new Error(`got ${describeFrame(f)}, want ${what}: a text frame of ${want.length} bytes`);
    if (!want.equals(f.data)) {
      let i = 0;
      while (i < want.length && i < f.data.length && want[i] === f.data[i]) i++;
      throw new Error(`${what} differs from byte ${i} on: got ${f.data.length} bytes ${hex(f.data.subarray(i), 24)}, want ${want.length} bytes ${hex(want.subarray(i), 24)}`);
    }
    try { utf8.decode(f.data); } catch { throw new Error(`${what} is not valid UTF-8`); }
  }
  // closingFrame waits for hixie-76's closing frame, 0xFF 0x00.
  async closingFrame(what = "the closing frame 0xFF 0x00") {
    const f = await this.readFrame(what);
    if (f.kind !== "close") throw new Error(`got ${describeFrame(f)}, want ${what}`);
  }
  // closedByServer waits for the end of the stream, with nothing before it.
  async closedByServer(what = "the server to close the connection") {
    const f = await this.readFrame(what);
    if (f.kind !== "eof") throw new Error(`got ${describeFrame(f)}, want ${what}`);
    if (this.err) throw new Error(`${this.err.code ?? this.err.message} instead of a clean end of the stream`);
  }
  // bye is the client's close. Hixie-76 (section 4.3 of that draft): send
  // 0xFF 0x00; the server answers with the same and closes the
  // connection. Hixie-75 has no closing frame: the client ends its half of
  // the stream and the server closes the rest.
  async bye() {
    if (draft === 76) {
      this.send([0xff, 0x00]);
      await this.closingFrame("the server's answer to our 0xFF 0x00");
    } else {
      this.sock.end();
    }
    await this.closedByServer();
    this.sock.end();
    this.done = true;
  }
  // answerClose is the client's side of a close the server started: on
  // its 0xFF 0x00 a hixie-76 client sends its own, then the server closes.
  // A hixie-75 server just closes.
  async answerClose() {
    if (draft === 76) {
      await this.closingFrame("the server's closing frame 0xFF 0x00");
      this.send([0xff, 0x00]);
    }
    await this.closedByServer();
    this.sock.end();
    this.done = true;
  }
}

function describeFrame(f) {
  switch (f.kind) {
    case "eof": return "the end of the stream";
    case "close": return "the closing frame 0xFF 0x00";
    case "text": return `a text frame of type 0x${f.type.toString(16).padStart(2, "0")} with ${f.data.length} bytes ${hex(f.data, 24)}`;
    default: return `a frame of type 0x${f.type.toString(16)} with ${f.data.length} bytes ${hex(f.data, 24)}`;
  }
}

// frame is the text frame of s: 0x00, its UTF-8 bytes, 0xFF.
const frame = (s) => Buffer.concat([Buffer.from([0x00]), Buffer.from(s), Buffer.from([0xff])]);

// ---- The opening handshake ----

const NOISE = [];
for (let c = 0x21; c <= 0x2f; c++) NOISE.push(String.fromCharCode(c));
for (let c = 0x3a; c <= 0x7e; c++) NOISE.push(String.fromCharCode(c));

const insertAt = (s, i, c) => s.slice(0, i) + c + s.slice(i);

// makeKey builds a Sec-WebSocket-Key1/Key2 value as draft-76 section 4.1
// has a browser do: spaces from 1 to 12; number from 0 to
// floor(4294967295 / spaces); the decimal digits of number × spaces; 1 to
// 12 random characters from U+0021–U+002F and U+003A–U+007E inserted at
// random positions; then the spaces inserted at random positions other
// than the start and the end. spaces and number may be fixed, to test the
// edges; "max" is the largest number allowed.
function makeKey(spaces = crypto.randomInt(1, 13), number) {
  const max = Math.floor(4294967295 / spaces);
  if (number === undefined) number = crypto.randomInt(0, max + 1);
  if (number === "max") number = max;
  let key = String(number * spaces);
  for (let n = crypto.randomInt(1, 13); n > 0; n--) {
    key = insertAt(key, crypto.randomInt(0, key.length + 1), NOISE[crypto.randomInt(NOISE.length)]);
  }
  for (let n = 0; n < spaces; n++) key = insertAt(key, crypto.randomInt(1, key.length), " ");
  return { key, number, spaces };
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// expected is the challenge response a hixie-76 server must send: the MD5
// of number_1 and number_2 as big-endian 32-bit integers, then key3.
function expected(k1, k2, key3) {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(k1.number, 0);
  b.writeUInt32BE(k2.number, 4);
  key3.copy(b, 8);
  return crypto.createHash("md5").update(b).digest();
}

// readHead reads the response's status line and fields as draft-76
// section 4.1 reads them: lines ended by CR LF, names lowercased up to the
// colon, one optional space before the value. It returns the raw head too.
async function readHead(c) {
  const lines = [];
  const raw = [];
  for (;;) {
    const line = await c.readThrough(0x0a, lines.length ? "a response header field" : "the response status line");
    raw.push(line);
    if (line.length < 2 || line[line.length - 2] !== 0x0d || line.subarray(0, -2).includes(0x0d)) {
      throw new Error(`response line ${JSON.stringify(line.toString("latin1"))} is not ended by exactly CR LF`);
    }
    if (line.length === 2) break;
    lines.push(line.subarray(0, -2));
  }
  const head = Buffer.concat(raw).toString("latin1");
  const [status, ...rest] = lines;
  const fields = [];
  for (const l of rest) {
    const colon = l.indexOf(0x3a);
    if (colon <= 0) throw new Error(`response field ${JSON.stringify(l.toString("latin1"))} has no name`);
    let value = l.subarray(colon + 1);
    if (value[0] === 0x20) value = value.subarray(1);
    fields.push([l.subarray(0, colon).toString("latin1").toLowerCase(), utf8.decode(value)]);
  }
  return { status: status.toString("latin1"), fields, head };
}

// checkFields applies draft-76's rules (section 4.1), which draft-75's
// match with other names: exactly one of each required field, with the
// value the client expects; other fields (cookies) are ignored. The one
// rule added here: a protocol nobody offered is an error.
function checkFields(fields, want, head) {
  const counts = new Map();
  for (const [name] of fields) counts.set(name, (counts.get(name) ?? 0) + 1);
  const got = new Map(fields);
  for (const [name, value] of Object.entries(want)) {
    if (value === undefined) {
      if (counts.has(name)) throw new Error(`the response has ${name}: ${got.get(name)}, but the request offered none; head ${JSON.stringify(head)}`);
      continue;
    }
    if (counts.get(name) !== 1) throw new Error(`the response has ${counts.get(name) ?? 0} ${name} fields, want 1; head ${JSON.stringify(head)}`);
    if (got.get(name) !== value) throw new Error(`${name} is ${JSON.stringify(got.get(name))}, want ${JSON.stringify(value)}`);
  }
}

let connections = 0;

// open connects as case name and runs the opening handshake of the
// draft. Options: protocol (offered), key3 ("with" the header, "split"
// into a later write, or "after101": held back until the response header
// has arrived, as HAProxy does), keys ([key1, key2] from makeKey). Without
// key3, connections alternate between "with" and "split".
async function open(name, options = {}) {
  const path = `${target.pathname}?case=${encodeURIComponent(name)}`;
  const location = `ws://${host}${path}`;
  const sock = net.connect({ host: target.hostname, port: Number(target.port), allowHalfOpen: true });
  sock.setNoDelay(true);
  const c = new Conn(sock, name);
  await within(new Promise((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  }), "the TCP connection");
  const { protocol } = options;
  if (draft === 75) {
    // Draft-75 section 4.1 fixes the request's fields and their order.
    let req = `GET ${path} HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: ${host}\r\nOrigin: ${origin}\r\n`;
    if (protocol !== undefined) req += `WebSocket-Protocol: ${protocol}\r\n`;
    c.send(req + "\r\n");
    const { fields, head } = await readHead(c);
    // "If the first 85 bytes of the response are not exactly equal to
    // the following, fail": the status line of this draft and the two
    // fields right after it, byte for byte.
    const prefix = "HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n";
    if (!head.startsWith(prefix)) throw new Error(`the response does not start with draft-75's 85 bytes; head ${JSON.stringify(head)}`);
    checkFields(fields, {
      "websocket-origin": origin,
      "websocket-location": location,
      "websocket-protocol": protocol,
    }, head);
    // No body: whatever follows the head must be frames we asked for.
    c.markHandshakeDone();
    c.head = head;
    return c;
  }

  const [k1, k2] = options.keys ?? [makeKey(), makeKey()];
  const fields = [
    "Upgrade: WebSocket",
    "Connection: Upgrade",
    `Host: ${host}`,
    `Origin: ${origin}`,
    `Sec-WebSocket-Key1: ${k1.key}`,
    `Sec-WebSocket-Key2: ${k2.key}`,
  ];
  if (protocol !== undefined) fields.push(`Sec-WebSocket-Protocol: ${protocol}`);
  // "Shuffle /fields/ into a random order", as browsers did.
  const req = Buffer.from(`GET ${path} HTTP/1.1\r\n${shuffle(fields).map((f) => f + "\r\n").join("")}\r\n`, "latin1");
  const key3 = crypto.randomBytes(8);
  const mode = options.key3 ?? (connections++ % 2 ? "split" : "with");
  let headPromise;
  switch (mode) {
    case "with":
      c.send(Buffer.concat([req, key3]));
      break;
    case "split":
      c.send(Buffer.concat([req, key3.subarray(0, 3)]));
      await sleep(20);
      c.send(key3.subarray(3));
      break;
    case "after101":
      c.send(req);
      headPromise = readHead(c);
      await headPromise;
      if (c.buf.length) throw new Error(`the server sent ${hex(c.buf)} after the response head, before key3 was sent`);
      await c.sendParts([key3.subarray(0, 5), key3.subarray(5)]);
      break;
    default:
      throw new Error(`unknown key3 mode ${mode}`);
  }
  const { status, fields: got, head } = await (headPromise ?? readHead(c));
  const keys = `key1 ${JSON.stringify(k1.key)} (${k1.number}), key2 ${JSON.stringify(k2.key)} (${k2.number}), key3 ${hex(key3)}`;
  // Section 4.1: the code between the first two spaces must be 101; the
  // reason phrase is the draft's.
  const code = status.split(" ")[1];
  if (code !== "101") throw new Error(`the response status is ${JSON.stringify(status)}, want 101; ${keys}`);
  if (status !== "HTTP/1.1 101 WebSocket Protocol Handshake") {
    throw new Error(`the status line is ${JSON.stringify(status)}, want draft-76's "HTTP/1.1 101 WebSocket Protocol Handshake"`);
  }
  checkFields(got, {
    upgrade: "WebSocket",
    connection: "Upgrade",
    "sec-websocket-origin": origin,
    "sec-websocket-location": location,
    "sec-websocket-protocol": protocol,
  }, head);
  const answer = await c.readN(16, `the 16-byte challenge response (${keys})`);
  const want = expected(k1, k2, key3);
  if (!answer.equals(want)) throw new Error(`challenge response ${hex(answer)}, want ${hex(want)}; ${keys}`);
  c.markHandshakeDone();
  c.head = head;
  c.mode = mode;
  return c;
}

async function check(name, fn) {
  started = Date.now();
  opened = [];
  name = `hixie-${draft} ${name}`;
  try {
    const detail = await fn();
    pass(name, detail);
  } catch (err) {
    // The transcripts of the connections that did not get to their close.
    const unfinished = opened.filter((c) => !c.done);
    const shown = unfinished.slice(0, 3).map((c) => " " + c.transcript()).join("");
    const more = unfinished.length > 3 ? ` (and ${unfinished.length - 3} more connections)` : "";
    fail(name, err.message + shown + more);
  } finally {
    for (const c of opened) c.sock.destroy();
  }
}

// exactly n bytes of UTF-8 with 1-, 2-, 3- and 4-byte characters.
function utf8Text(n) {
  const unit = "λx€😀"; // 2 + 1 + 3 + 4 bytes
  const s = unit.repeat(Math.floor(n / 10));
  return s + "z".repeat(n - Buffer.byteLength(s));
}

// echo sends each message in its own frame and write, and awaits them back.
async function echo(c, ...msgs) {
  for (const m of msgs) c.send(frame(m));
  for (const m of msgs) await c.text(m);
}

// ---- The checks ----

if (draft === 76) {
  await check("handshake, key3 with the header", async () => {
    const c = await open("key3-with", { key3: "with" });
    await echo(c, "hello");
    await c.bye();
    return "status line, Upgrade, Connection, Sec-WebSocket-Origin and -Location, challenge";
  });

  await check("handshake, key3 split", async () => {
    const c = await open("key3-split", { key3: "split" });
    await echo(c, "hello");
    await c.bye();
    return "3 bytes of key3 with the header, 5 in a write 20 ms later";
  });

  await check("handshake, key3 held back", async () => {
    const c = await open("key3-after-101", { key3: "after101" });
    await echo(c, "hello");
    await c.bye();
    return "key3 sent only once the response header had arrived, as HAProxy does";
  });

  await check("handshake, keys at their limits", async () => {
    const cases = [
      [makeKey(1, "max"), makeKey(12, 0)], // 4294967295 with 1 space; 0 with 12
      [makeKey(12, "max"), makeKey(1, 0)], // 4294967292 with 12 spaces; 0 with 1
      [makeKey(7, "max"), makeKey(2, 1)],
    ];
    for (const [i, keys] of cases.entries()) {
      const c = await open(`key-limits-${i}`, { keys });
      await echo(c, "edge");
      await c.bye();
    }
    return `${cases.map(([a, b]) => `${a.number}×${a.spaces} and ${b.number}×${b.spaces}`).join("; ")}`;
  });

  await check("handshake, random keys", async () => {
    const n = 24;
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      const c = await open(`random-keys-${i}`, { key3: ["with", "split", "after101"][i % 3] });
      await echo(c, `connection ${i}`);
      await c.bye();
    }));
    return `${n} connections at once, key3 with the header, split and held back`;
  });
} else {
  await check("handshake", async () => {
    const c = await open("handshake");
    await echo(c, "hello");
    await c.bye();
    return "the 85 bytes, WebSocket-Origin and -Location, no body";
  });
}

await check("text echo", async () => {
  const c = await open("text");
  await echo(c, "hello, lariat");
  await c.bye();
});

await check("UTF-8 echo", async () => {
  const c = await open("utf8");
  const s = "héllo ✓ λx€😀 \ufeff 𝄞";
  await echo(c, s);
  await c.bye();
  return `${Buffer.byteLength(s)} bytes, 1- to 4-byte characters`;
});

await check("empty message", async () => {
  const c = await open("empty");
  await echo(c, "");
  await c.bye();
  return "0x00 0xFF both ways";
});

await check("large messages", async () => {
  const c = await open("large");
  const sizes = [65535, 65536, 65537];
  await echo(c, ...sizes.map((n) => utf8Text(n)));
  await c.bye();
  return `${sizes.join(", ")} bytes of mixed UTF-8`;
});

await check("several frames in one write", async () => {
  const c = await open("batch");
  const msgs = ["one", "", "λx€😀", "x".repeat(3000), "last"];
  c.send(Buffer.concat(msgs.map(frame)));
  for (const m of msgs) await c.text(m);
  await c.bye();
  return `${msgs.length} frames, one empty`;
});

await check("frames split across writes", async () => {
  const c = await open("split");
  const a = "split ✓ across 😀 writes";
  const b = "and the next one";
  const fa = frame(a);
  const stream = Buffer.concat([fa, frame(b)]);
  // Cut after the type byte, inside ✓ (e2 9c 93), inside 😀 (f0 9f 98 80),
  // before the 0xFF, and right after the next frame's type byte.
  const inCheck = fa.indexOf(0xe2) + 1;
  const inSmiley = fa.indexOf(0xf0) + 2;
  const cuts = [1, inCheck, inSmiley, fa.length - 1, fa.length + 1];
  const parts = [];
  let from = 0;
  for (const at of [...cuts, stream.length]) { parts.push(stream.subarray(from, at)); from = at; }
  await c.sendParts(parts);
  await c.text(a);
  await c.text(b);
  await c.bye();
  return `${parts.length} writes, characters cut in the middle`;
});

await check("a byte per write", async () => {
  const c = await open("byte-by-byte");
  const f = frame("é✓😀");
  await c.sendParts([...f].map((b) => Buffer.from([b])), 5);
  await c.text("é✓😀");
  await c.bye();
  return `${f.length} writes of one byte`;
});

for (const p of cfg.protocols) {
  await check(`subprotocol ${p}`, async () => {
    const c = await open(`protocol-${p}`, { protocol: p });
    c.send(frame(cfg.commands.protocol));
    await c.text(p, "the chosen protocol");
    await c.bye();
    return `offered ${p}; ${draft === 76 ? "Sec-" : ""}WebSocket-Protocol echoes it`;
  });
}

await check("no subprotocol", async () => {
  const c = await open("no-protocol");
  c.send(frame(cfg.commands.protocol));
  await c.text("", "an empty protocol name");
  await c.bye();
  return "none offered, none in the response";
});

// Invalid UTF-8: a hixie-76 server sends 0xFF 0x00 and closes; a hixie-75
// one, having no closing frame, just closes.
const badClose = draft === 76 ? "0xFF 0x00, then the end of the stream" : "the end of the stream";

await check("invalid UTF-8", async () => {
  const c = await open("bad-utf8");
  // A valid frame first (echoed), then an overlong "/" (c0 af).
  c.send(Buffer.concat([frame("fine"), Buffer.from([0x00, 0x61, 0x62, 0xc0, 0xaf, 0xff])]));
  await c.text("fine");
  await c.answerClose();
  return `overlong c0 af, answered with ${badClose}`;
});

await check("invalid UTF-8 before the frame ends", async () => {
  const c = await open("bad-utf8-early");
  // A surrogate (ed a0 80), the frame left open: the server must not
  // wait for its end.
  c.send(Buffer.from([0x00, 0x6f, 0x6b, 0xed, 0xa0, 0x80]));
  if (draft === 76) {
    await c.closingFrame("0xFF 0x00 before the frame ends");
    c.send([0xff, 0xff, 0x00]); // end the frame, then our closing frame
  }
  await c.closedByServer();
  c.sock.end();
  c.done = true;
  return `surrogate ed a0 80 in an unfinished frame, answered with ${badClose}`;
});

await check("truncated character", async () => {
  const c = await open("bad-utf8-truncated");
  // The frame ends in the middle of € (e2 82 ac): only its end tells.
  c.send(Buffer.from([0x00, 0x61, 0xe2, 0x82, 0xff]));
  await c.answerClose();
  return `e2 82 then 0xFF, answered with ${badClose}`;
});

await check("client close", async () => {
  const c = await open("close");
  await echo(c, "last words");
  await c.bye();
  return draft === 76 ? "sent 0xFF 0x00, got 0xFF 0x00 back, then the server closed" : "ended our half of the stream, then the server closed";
});

await check("server-initiated close", async () => {
  const c = await open("server-close");
  c.send(Buffer.concat([frame("before the command"), frame(cfg.commands.close)]));
  await c.text("before the command");
  await c.answerClose();
  return draft === 76 ? "the message first, then 0xFF 0x00; answered, then the server closed" : "the message first, then the server closed";
});

process.exitCode = failures ? 1 : 0;
