// Headless Chromium, driven by playwright-core, against examples/chat on
// two nodes joined by NATS, started by interop/twonode_test.go:
//
//   node twonode.mjs URL0 URL1 MONITOR CONFIG
//
// URL0 and URL1 are the chat's pages on node 0 (compressing) and node 1
// (not), MONITOR the NATS server's monitoring URL, CONFIG the test's
// JSON config (Chromium, its flags, maxMessage: the limit the nodes
// announce). Prints one line per check: "PASS name", "FAIL name: why" or
// "SKIP name: why"; exits 1 if any check failed.
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv.at(-1));
const [url0, url1, monitor] = process.argv.slice(2, -1);
const STEP_MS = 15000; // bound on each wait; only a hang comes near it

let failures = 0;
let started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
const pass = (name, detail) => console.log(`PASS ${name}: ${detail ? detail + " " : ""}(${elapsed()})`);
const fail = (name, why) => { failures++; console.log(`FAIL ${name}: ${why}`); };

// within rejects if p does not settle in time: page.evaluate has no
// timeout of its own.
function within(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function check(name, fn) {
  started = Date.now();
  try {
    pass(name, await within(fn(), 3 * STEP_MS, name));
  } catch (err) {
    fail(name, err.message.split("\n")[0]);
  }
}

// waitInterest waits until the NATS server knows of want subscriptions
// to the room's subject, one per node with a member in it. A node
// subscribes without waiting for the server, and a notice published
// before the server has the other node's subscription would not reach
// that node: so a check waits for it before a second node joins in.
async function waitInterest(room, want) {
  const subject = "lariat.chat." + room;
  const deadline = Date.now() + STEP_MS;
  let total = -1;
  while (Date.now() < deadline) {
    const resp = await fetch(`${monitor}/subsz?subs=1&test=${subject}`);
    total = (await resp.json()).total;
    if (total >= want) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the NATS server has ${total} subscriptions to ${subject}, want ${want}`);
}

// In each page: raw sockets on the page's own URL, whose messages a
// check awaits in order; and the same pseudo-random bytes in every page.
function installHelpers(stepMs) {
  window.__interop = {
    open(name) {
      const ws = new WebSocket("ws://" + location.host + "/?name=" + name);
      ws.binaryType = "arraybuffer";
      const queue = [], waiters = [];
      const push = (ev) => { const w = waiters.shift(); if (w) w(ev); else queue.push(ev); };
      // Notices of other sockets and pages joining and leaving are not
      // what a check awaits: only the first, the welcome, is kept.
      let welcomed = false;
      ws.onmessage = (e) => {
        const notice = typeof e.data === "string" && e.data.startsWith("\u0001");
        if (notice && welcomed) return;
        welcomed = true;
        push({ type: "message", data: e.data });
      };
      ws.onclose = (e) => push({ type: "close", code: e.code, reason: e.reason, wasClean: e.wasClean });
      const next = (what) => {
        if (queue.length) return Promise.resolve(queue.shift());
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("timed out waiting for " + what)), stepMs);
          waiters.push((ev) => { clearTimeout(t); resolve(ev); });
        });
      };
      const joined = next("the welcome").then((ev) => {
        if (ev.type !== "message" || !String(ev.data).startsWith('\u0001{"system":"welcome"')) throw new Error("first message is not the welcome: " + JSON.stringify(ev));
      });
      return { ws, next, joined };
    },
    pattern(n, seed) {
      const b = new Uint8Array(n);
      let x = seed >>> 0;
      for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
      return b;
    },
    // The messages one raw socket sends to the other, from its name.
    messages(from, max) {
      const p = window.__interop.pattern;
      return [
        { what: "text", data: "from " + from + " ✓ ünïcödé" },
        { what: "4 KiB binary", data: p(4096, from.length) },
        { what: "empty text", data: "" },
        { what: "binary of the limit", data: p(max, 7 + from.length) },
        { what: "large text", data: "λx€😀".repeat(Math.floor(max / 13)) + from },
      ];
    },
    same(a, b) {
      if (typeof b === "string") return a === b;
      if (!(a instanceof ArrayBuffer)) return false;
      a = new Uint8Array(a);
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
      return true;
    },
  };
}

setTimeout(() => {
  fail("watchdog", "the run did not finish within 100s; is Chromium stuck?");
  process.exit(1);
}, 100000).unref();

let browser;
try {
  browser = await chromium.launch({ executablePath: cfg.chromium, headless: true, args: cfg.chromiumArgs, timeout: 60000 });
} catch (err) {
  fail("launch chromium", `${cfg.chromium}: ${err.message.split("\n")[0]}`);
  process.exit(1);
}
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  await context.addInitScript(installHelpers, STEP_MS);
  const pageErrors = [];
  // openPage opens the chat at url as name: the page reads its name from
  // localStorage when it loads, and joins its room with it.
  const openPage = async (url, name) => {
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(`${name}: ${err.message}`));
    page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(`${name} console: ${msg.text()}`); });
    await page.addInitScript((n) => localStorage.setItem("name", n), name);
    const resp = await page.goto(url);
    if (!resp.ok()) throw new Error(`GET ${url} = ${resp.status()}`);
    await page.waitForSelector('#status[data-state="open"]');
    await page.waitForSelector("#messages li.system.welcome");
    return page;
  };
  await suite(openPage, pageErrors);
} finally {
  await browser.close();
}
process.exitCode = failures ? 1 : 0;

async function suite(openPage, pageErrors) {
  let alice, bob;
  await check("a page on each node", async () => {
    alice = await openPage(url0, "Alice");
    await waitInterest("lobby", 1);
    bob = await openPage(url1, "Bob");
    // Bob's join crossed from node 1 to node 0; neither node counts.
    await alice.locator('#messages li.system.join[data-name="Bob"]', { hasText: /^Bob joined$/ }).waitFor();
    await waitInterest("lobby", 2);
    for (const [who, page] of [["Alice", alice], ["Bob", bob]]) {
      const welcome = await page.locator("#messages li.welcome").textContent();
      if (welcome !== "You joined lobby.") throw new Error(`${who}'s page says ${JSON.stringify(welcome)}`);
      const room = await page.locator("#room").textContent();
      if (room !== "· lobby") throw new Error(`${who}'s page shows the room as ${JSON.stringify(room)}`);
    }
    return "Alice on node 0 saw Bob of node 1 join the lobby";
  });
  if (!alice || !bob) {
    fail("the other checks", "no page to run them in");
    return;
  }

  await check("compression on node 0 only", async () => {
    const a = await alice.locator("#status").getAttribute("data-extensions");
    const b = await bob.locator("#status").getAttribute("data-extensions");
    if (!a.startsWith("permessage-deflate") || b !== "") throw new Error(`node 0: ${JSON.stringify(a)}, node 1: ${JSON.stringify(b)}`);
    return `node 0: ${a}; node 1: none`;
  });

  await check("text through the pages, both ways", async () => {
    await alice.fill("#text", "hello from node 0 ✓");
    await alice.press("#text", "Enter");
    await bob.locator("#messages li", { hasText: "hello from node 0 ✓" }).filter({ hasText: "Alice" }).waitFor();
    await bob.fill("#text", "hi from node 1");
    await bob.click("form button");
    await alice.locator("#messages li", { hasText: "hi from node 1" }).filter({ hasText: "Bob" }).waitFor();
    // Each line once in each page: the sender's own, and nothing echoed.
    for (const [who, page, text] of [["Alice", alice, "hello from node 0 ✓"], ["Bob", bob, "hi from node 1"]]) {
      for (const [whose, p] of [["Alice", alice], ["Bob", bob]]) {
        const n = await p.locator("#messages li", { hasText: text }).count();
        if (n !== 1) throw new Error(`${whose}'s page shows ${who}'s line ${n} times`);
      }
    }
    return "typed on one node, shown on the other, once";
  });

  await check("file across nodes", async () => {
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) & 0xff));
    await bob.setInputFiles("#file", { name: "notes.bin", mimeType: "application/octet-stream", buffer: bytes });
    const link = alice.locator("#messages a.file", { hasText: "notes.bin (3000 bytes)" });
    await link.waitFor();
    const got = await link.evaluate(async (a) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
    if (!bytes.equals(Buffer.from(got))) throw new Error(`the file arrived as ${got.length} different bytes`);
    return "a file sent as a binary message from node 1 arrived intact on node 0";
  });

  // Raw sockets of their own in each page, so that every byte can be
  // compared: each sends its messages, the other must get exactly them,
  // and a sender's next message is the other's marker, not its own.
  await check("raw sockets, byte for byte, both ways", async () => {
    const open = (page, name) => page.evaluate(async (name) => {
      window.__sock = window.__interop.open(name);
      await window.__sock.joined;
    }, name);
    const send = (page, from, marker) => page.evaluate(({ from, max, marker }) => {
      const s = window.__sock;
      for (const m of window.__interop.messages(from, max)) s.ws.send(m.data);
      if (marker) s.ws.send(marker);
    }, { from, max: cfg.maxMessage, marker });
    const receive = (page, from, marker) => page.evaluate(async ({ from, max, marker }) => {
      const h = window.__interop, s = window.__sock;
      const want = [...h.messages(from, max), ...(marker ? [{ what: "marker", data: marker }] : [])];
      for (const m of want) {
        const ev = await s.next(m.what);
        if (ev.type !== "message") throw new Error(`want ${m.what} from ${from}, got ${JSON.stringify(ev)}`);
        if (!h.same(ev.data, m.data)) throw new Error(`${m.what} from ${from} differs: got ${typeof ev.data === "string" ? ev.data.length + " characters" : ev.data.byteLength + " bytes"}`);
      }
    }, { from, max: cfg.maxMessage, marker });
    await open(alice, "raw0");
    await open(bob, "raw1");
    await send(alice, "raw0");
    await receive(bob, "raw0");
    await send(bob, "raw1", "marker from raw1");
    await receive(alice, "raw1", "marker from raw1");
    // raw0's next message: raw1's marker, had raw0 got its own back it
    // would come first.
    await send(alice, "raw0-again", "marker from raw0");
    await receive(bob, "raw0-again", "marker from raw0");
    for (const page of [alice, bob]) await page.evaluate(() => window.__sock.ws.close(1000));
    return `text, 4 KiB binary, empty text, ${cfg.maxMessage} bytes of binary and large text, each way`;
  });

  await check("join and leave notices cross nodes", async () => {
    const carol = await openPage(url1, "Carol");
    await alice.locator('#messages li.system.join[data-name="Carol"]', { hasText: /^Carol joined$/ }).waitFor();
    await carol.close(); // Chromium sends 1001
    await alice.locator('#messages li.system.leave[data-name="Carol"]', { hasText: /^Carol left$/ }).waitFor();
    const dave = await openPage(url0, "Dave");
    await bob.locator('#messages li.system.join[data-name="Dave"]', { hasText: /^Dave joined$/ }).waitFor();
    await dave.close();
    await bob.locator('#messages li.system.leave[data-name="Dave"]', { hasText: /^Dave left$/ }).waitFor();
    return "Carol of node 1 came and went in Alice's page, Dave of node 0 in Bob's";
  });

  await check("another room across nodes", async () => {
    const erin = await openPage(url0 + "?room=side", "Erin");
    await waitInterest("side", 1);
    const frank = await openPage(url1 + "?room=side", "Frank");
    await erin.locator('#messages li.system.join[data-name="Frank"]').waitFor();
    await waitInterest("side", 2);
    const room = await frank.locator("#room").textContent();
    if (room !== "· side") throw new Error(`Frank's page shows the room as ${JSON.stringify(room)}`);
    await frank.fill("#text", "on the side");
    await frank.press("#text", "Enter");
    await erin.locator("#messages li", { hasText: "on the side" }).filter({ hasText: "Frank" }).waitFor();
    // Node 1 publishes in order: once Bob's next line reaches Alice,
    // Frank's, sent before it, would have too had it been in the lobby.
    await bob.fill("#text", "back in the lobby");
    await bob.press("#text", "Enter");
    await alice.locator("#messages li", { hasText: "back in the lobby" }).waitFor();
    for (const [who, page] of [["Alice", alice], ["Bob", bob]]) {
      if (await page.locator("#messages li", { hasText: /on the side|Frank|Erin/ }).count()) throw new Error(`the lobby, in ${who}'s page, heard of the side room`);
    }
    await erin.close();
    await frank.close();
    return "Erin on node 0 and Frank on node 1 talked in ?room=side; the lobby heard nothing";
  });

  await check("oversized message marked undelivered", async () => {
    const grace = await openPage(url1, "Grace");
    await alice.locator('#messages li.system.join[data-name="Grace"]').waitFor();
    await grace.locator("#text").evaluate((el, n) => { el.value = "too long ".repeat(n); }, Math.ceil(cfg.maxMessage / 9));
    await grace.press("#text", "Enter");
    await grace.waitForSelector('#status[data-code="1009"]');
    const own = grace.locator("#messages li.me.undelivered");
    await own.filter({ hasText: `over the room's limit of ${cfg.maxMessage}` }).waitFor();
    // Alice's next line about Grace is that she left: nothing of hers
    // crossed to node 0.
    await alice.locator('#messages li.system.leave[data-name="Grace"]').waitFor();
    const between = await alice.evaluate(() => {
      const lis = [...document.querySelectorAll("#messages li")];
      const j = lis.findIndex((li) => li.matches('.join[data-name="Grace"]'));
      const l = lis.findIndex((li) => li.matches('.leave[data-name="Grace"]'));
      return lis.slice(j + 1, l).filter((li) => li.textContent.includes("too long")).length;
    });
    if (between) throw new Error("Alice's page shows Grace's refused message");
    await grace.close();
    return `refused with 1009 on node 1 at ${cfg.maxMessage} bytes, the limit the welcome announced; nothing reached node 0`;
  });

  await check("no page errors", async () => {
    if (pageErrors.length) throw new Error(pageErrors.join("; "));
  });

  await alice.close();
  await bob.close();
}
