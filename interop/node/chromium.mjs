// Headless Chromium, driven by playwright-core, against examples/chat
// served by interop/chromium_test.go (which passes its config as the last
// argument). cfg.suite chooses the checks: "chat" (the default), against
// the chat's handler in the test's process; "idle", against the
// example's own binary started with -idle; or "h2", against the example
// started with -tls and extended CONNECT on, over HTTPS and HTTP/2. It uses the Chromium given in
// the config (Debian's; no browser is ever downloaded). Prints one line
// per check: "PASS name", "FAIL name: why" or "SKIP name: why"; exits 1
// if any check failed.
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv.at(-1));
const STEP_MS = 15000; // bound on each wait; only a hang comes near it

let failures = 0;
let started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
const pass = (name, detail) => console.log(`PASS ${name}: ${detail ? detail + " " : ""}(${elapsed()})`);
const fail = (name, why) => { failures++; console.log(`FAIL ${name}: ${why}`); };
const skip = (name, why) => console.log(`SKIP ${name}: ${why}`);

// within rejects if p does not settle in time: page.evaluate has no
// timeout of its own, and a page whose main thread is stuck never fires
// the timers inside it.
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
    const detail = await within(fn(), 3 * STEP_MS, name);
    if (typeof detail === "object" && detail?.skip) skip(name, detail.skip);
    else pass(name, detail);
  } catch (err) {
    fail(name, err.message.split("\n")[0]);
  }
}

// In the page: raw sockets on the page's own URL, whose events a check
// awaits in order. Installed into each page before its script runs.
function installHelpers(stepMs) {
  window.__interop = {
    open() {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
      ws.binaryType = "arraybuffer";
      const queue = [], waiters = [];
      const push = (ev) => { const w = waiters.shift(); if (w) w(ev); else queue.push(ev); };
      // The room's notices (text starting with U+0001) of other sockets
      // joining and leaving are not what a check awaits: only the first,
      // the welcome, is kept.
      let welcomed = false;
      ws.onmessage = (e) => {
        const notice = typeof e.data === "string" && e.data.startsWith("\u0001");
        if (notice && welcomed) return;
        welcomed = true;
        push({ type: "message", data: e.data });
      };
      ws.onclose = (e) => push({ type: "close", code: e.code, reason: e.reason, wasClean: e.wasClean });
      ws.onerror = () => push({ type: "error" });
      const next = (what) => {
        if (queue.length) return Promise.resolve(queue.shift());
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("timed out waiting for " + what)), stepMs);
          waiters.push((ev) => { clearTimeout(t); resolve(ev); });
        });
      };
      // The room greets every newcomer: after that the socket is a member.
      // joined resolves to the welcome's JSON.
      const joined = next("the welcome").then((ev) => {
        if (ev.type !== "message" || !String(ev.data).startsWith('\u0001{"system":"welcome"')) throw new Error("first message is not the welcome: " + JSON.stringify(ev));
        return JSON.parse(ev.data.slice(1));
      });
      return { ws, next, joined };
    },
    pattern(n, seed) {
      const b = new Uint8Array(n);
      let x = seed >>> 0;
      for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
      return b;
    },
    same(a, b) {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
      return true;
    },
  };
}

// The last resort if Chromium itself stops answering.
setTimeout(() => {
  fail("watchdog", "the run did not finish within 100s; is Chromium stuck?");
  process.exit(1);
}, 100000).unref();

let browser;
try {
  browser = await chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    args: cfg.chromiumArgs,
    timeout: 60000,
  });
} catch (err) {
  fail("launch chromium", `${cfg.chromium}: ${err.message.split("\n")[0]}`);
  process.exit(1);
}
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  await context.addInitScript(installHelpers, STEP_MS);
  const pageErrors = [];
  // openPage opens the chat as name: the page reads its name from
  // localStorage when it loads, and joins the room with it.
  const openPage = async (name) => {
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(`${name}: ${err.message}`));
    page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(`${name} console: ${msg.text()}`); });
    await page.addInitScript((n) => localStorage.setItem("name", n), name);
    const resp = await page.goto(cfg.url);
    if (!resp.ok()) throw new Error(`GET ${cfg.url} = ${resp.status()}`);
    await page.waitForSelector('#status[data-state="open"]');
    // The socket is open; the welcome tells that the room has it.
    await page.waitForSelector("#messages li.system");
    return page;
  };

  if (cfg.suite === "idle") await idleSuite(openPage, pageErrors);
  else if (cfg.suite === "h2") await h2Suite(openPage, pageErrors);
  else await chatSuite(openPage, pageErrors);
} finally {
  await browser.close();
}

process.exitCode = failures ? 1 : 0;

async function chatSuite(openPage, pageErrors) {
  let alice, bob;
  await check("page served and joined", async () => {
    alice = await openPage("Alice");
    bob = await openPage("Bob");
    const title = await alice.title();
    if (title !== "lariat chat") throw new Error(`title ${JSON.stringify(title)}`);
    return `${cfg.url}: page and socket on the same URL`;
  });
  if (!alice || !bob) {
    fail("the other checks", "no page to run them in");
    return;
  }

  await check("text through the page", async () => {
    await alice.fill("#name", "Alice");
    await alice.fill("#text", "hello from Alice ✓");
    await alice.press("#text", "Enter");
    await bob.locator("#messages li", { hasText: "hello from Alice ✓" }).filter({ hasText: "Alice" }).waitFor();
    await bob.fill("#name", "Bob");
    await bob.fill("#text", "hi Alice");
    await bob.click("form button");
    await alice.locator("#messages li", { hasText: "hi Alice" }).filter({ hasText: "Bob" }).waitFor();
    return "typed in one page, shown in the other, both ways";
  });

  await check("binary through the page", async () => {
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) & 0xff));
    await alice.setInputFiles("#file", { name: "notes.bin", mimeType: "application/octet-stream", buffer: bytes });
    const link = bob.locator("#messages a.file", { hasText: "notes.bin (3000 bytes)" });
    await link.waitFor();
    const got = await link.evaluate(async (a) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
    if (!bytes.equals(Buffer.from(got))) throw new Error(`the file arrived as ${got.length} different bytes`);
    return "a file sent as a binary message arrived intact";
  });

  // The rest uses sockets of its own in Alice's page: the page's
  // WebSocket, not the chat UI, so every byte can be compared.
  await check("raw sockets with text, binary and large messages", async () => {
    return await alice.evaluate(async ({ max }) => {
      const h = window.__interop;
      const a = h.open(), b = h.open();
      await a.joined;
      await b.joined;
      const got = async (what) => {
        const ev = await b.next(what);
        if (ev.type !== "message") throw new Error(`want ${what}, got ${JSON.stringify(ev)}`);
        return ev.data;
      };
      a.ws.send("plain text ✓");
      if ((await got("text")) !== "plain text ✓") throw new Error("text differs");
      const bin = h.pattern(4096, 5);
      a.ws.send(bin);
      const gotBin = await got("binary");
      if (!(gotBin instanceof ArrayBuffer) || !h.same(new Uint8Array(gotBin), bin)) throw new Error("binary differs or came as text");
      // Incompressible bytes at the very limit: large on the wire too,
      // where Chromium's compression makes them a little longer still.
      const large = h.pattern(max, 9);
      a.ws.send(large);
      const gotLarge = await got("a large binary message");
      if (!(gotLarge instanceof ArrayBuffer) || !h.same(new Uint8Array(gotLarge), large)) throw new Error(`large binary differs: got ${gotLarge.byteLength ?? gotLarge.length} bytes`);
      const largeText = "λx€😀".repeat(Math.floor(max / 10));
      a.ws.send(largeText);
      if ((await got("a large text message")) !== largeText) throw new Error("large text differs");
      a.ws.close(1000);
      b.ws.close(1000);
      return `text, 4 KiB binary, ${large.length}-byte binary and ${new TextEncoder().encode(largeText).length}-byte text relayed`;
    }, { max: cfg.maxMessage });
  });

  await check("WebSocket over HTTP/1.1", async () => {
    // Plain http:// has no HTTP/2: the server's welcome says so.
    const transport = await alice.locator("#status").getAttribute("data-transport");
    if (transport !== "http/1.1") throw new Error(`the welcome's transport is ${JSON.stringify(transport)}, want "http/1.1"`);
    return "the server's welcome: transport http/1.1";
  });

  await check("permessage-deflate negotiated", async () => {
    const ext = await alice.locator("#status").getAttribute("data-extensions");
    if (!cfg.deflate) {
      if (ext) throw new Error(`the probe found no compression, but Chromium negotiated ${ext}`);
      return { skip: "the server does not answer with Sec-WebSocket-Extensions yet (Options.Compress); ws.extensions is empty" };
    }
    if (!ext.startsWith("permessage-deflate")) throw new Error(`ws.extensions is ${JSON.stringify(ext)}`);
    return `ws.extensions = ${ext}`;
  });

  await check("close with code and reason", async () => {
    return await alice.evaluate(async ({ code, reason }) => {
      const s = window.__interop.open();
      await s.joined;
      s.ws.close(code, reason);
      const ev = await s.next("the close");
      if (ev.type !== "close" || ev.code !== code || !ev.wasClean) throw new Error(`got ${JSON.stringify(ev)}, want a clean close ${code}`);
      return `sent ${code} ${JSON.stringify(reason)}; the server echoed the code`;
    }, { code: cfg.closeCode, reason: cfg.closeReason });
  });

  await check("join and leave notices", async () => {
    const carol = await openPage("Carol");
    await alice.locator('#messages li.system.join[data-name="Carol"]', { hasText: /^Carol joined · \d+ people here$/ }).waitFor();
    await carol.close(); // Chromium sends 1001
    await alice.locator('#messages li.system.leave[data-name="Carol"]', { hasText: /^Carol left · \d+ people here$/ }).waitFor();
    return "Alice's page showed Carol join, then leave";
  });

  await check("own long message clipped", async () => {
    const long = "long line ".repeat(300); // 3000 characters
    await alice.fill("#text", long);
    await alice.press("#text", "Enter");
    const own = alice.locator("#messages li.me").last();
    await own.filter({ hasText: "(1000 more characters)" }).waitFor();
    await bob.locator("#messages li", { hasText: "(1000 more characters)" }).filter({ hasText: "Alice" }).waitFor();
    const shown = (await own.textContent()).length;
    if (shown > 2100) throw new Error(`Alice's own line shows ${shown} characters`);
    return `3000 characters shown as ${shown}, in the sender's page as in the other`;
  });

  await check("oversized message marked undelivered", async () => {
    const dave = await openPage("Dave");
    await alice.locator('#messages li.system.join[data-name="Dave"]').waitFor();
    // Made in the page: a megabyte through fill() takes seconds.
    await dave.locator("#text").evaluate((el, n) => { el.value = "too long ".repeat(n); }, Math.ceil(cfg.maxMessage / 9));
    await dave.press("#text", "Enter");
    // The server closes with 1009, and the page marks the line.
    await dave.waitForSelector('#status[data-code="1009"]');
    const own = dave.locator("#messages li.me.undelivered");
    await own.filter({ hasText: "not delivered" }).waitFor();
    const text = await own.textContent();
    if (!text.includes("more characters)")) throw new Error(`the undelivered line is not clipped: ${text.length} characters`);
    // Alice's next line about Dave is that he left: his message was
    // relayed to no one (the room keeps each member's messages in order).
    const left = alice.locator('#messages li.system.leave[data-name="Dave"]');
    await left.waitFor();
    const between = await alice.evaluate(() => {
      const lis = [...document.querySelectorAll("#messages li")];
      const j = lis.findIndex((li) => li.matches('.join[data-name="Dave"]'));
      const l = lis.findIndex((li) => li.matches('.leave[data-name="Dave"]'));
      return lis.slice(j + 1, l).filter((li) => li.textContent.includes("too long")).length;
    });
    if (between) throw new Error("Alice's page shows Dave's refused message");
    await dave.close();
    return `Dave's page: "${text.slice(-80)}"; Alice's: Dave left, nothing from him`;
  });

  await check("no page errors", async () => {
    if (pageErrors.length) throw new Error(pageErrors.join("; "));
  });

  // Closing the pages closes their sockets (Chromium sends 1001).
  await alice.close();
  await bob.close();
}

// The idle suite: a chat tab that only listens stays in the room past
// the idle timeout (lariat pings a quiet peer before the timeout, and the
// browser's pongs keep it), then SIGTERM to the server closes every tab
// with 1001.
async function idleSuite(openPage, pageErrors) {
  let carol;
  await check("idle tab stays connected", async () => {
    carol = await openPage("Carol");
    const wait = 2.5 * cfg.idleMs; // more than twice the idle timeout
    await carol.waitForTimeout(wait);
    const st = await carol.locator("#status").evaluate((e) => ({ state: e.dataset.state, text: e.textContent }));
    if (st.state !== "open") throw new Error(`after ${wait / 1000}s with -idle ${cfg.idleMs / 1000}s the tab shows "${st.text}"`);
    return `still open after ${wait / 1000}s with -idle ${cfg.idleMs / 1000}s`;
  });
  if (!carol) return;

  const isOpen = async (page) => (await page.locator("#status").getAttribute("data-state")) === "open";
  await check("idle tab still receives", async () => {
    if (!(await isOpen(carol))) throw new Error("Carol's tab is closed");
    const dave = await openPage("Dave");
    await carol.locator('#messages li.system.join[data-name="Dave"]').waitFor();
    await dave.fill("#text", "after the idle timeout");
    await dave.press("#text", "Enter");
    await carol.locator("#messages li", { hasText: "after the idle timeout" }).filter({ hasText: "Dave" }).waitFor();
    if (!(await isOpen(carol))) throw new Error("Carol's tab closed");
    await dave.close();
    return "Dave's join and message reached the idle tab";
  });

  await check("SIGTERM closes every tab with 1001", async () => {
    // A tab opened now, whatever became of Carol's.
    const tabs = { Erin: await openPage("Erin") };
    if (await isOpen(carol)) tabs.Carol = carol;
    process.kill(cfg.serverPid, "SIGTERM");
    for (const [name, page] of Object.entries(tabs)) {
      const st = await page.waitForSelector('#status[data-state="closed"]');
      const code = await st.getAttribute("data-code");
      if (code !== "1001") throw new Error(`${name}'s tab closed with ${code}: ${await st.textContent()}`);
    }
    return `${Object.keys(tabs).join(" and ")} saw 1001 (going away)`;
  });

  await check("no page errors", async () => {
    if (pageErrors.length) throw new Error(pageErrors.join("; "));
  });
}

// The HTTP/2 suite: the page comes over HTTPS with HTTP/2, and each
// WebSocket runs on a stream of that connection (RFC 8441), as the
// server's welcome tells (its transport, which the page shows in
// #status[data-transport]); messages flow both ways between two tabs.
async function h2Suite(openPage, pageErrors) {
  let alice, bob;
  await check("page over HTTP/2", async () => {
    alice = await openPage("Alice");
    bob = await openPage("Bob");
    for (const [name, page] of [["Alice", alice], ["Bob", bob]]) {
      const proto = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
      if (proto !== "h2") throw new Error(`${name}'s page came over ${JSON.stringify(proto)}, want "h2"`);
    }
    return `${cfg.url}: nextHopProtocol is h2 in both pages`;
  });
  if (!alice || !bob) {
    fail("the other checks", "no page to run them in");
    return;
  }

  await check("WebSocket over HTTP/2", async () => {
    for (const [name, page] of [["Alice", alice], ["Bob", bob]]) {
      const transport = await page.locator("#status").getAttribute("data-transport");
      if (transport !== "h2") throw new Error(`${name}'s welcome says transport ${JSON.stringify(transport)}, want "h2"`);
    }
    return "the server's welcome: transport h2 in both pages";
  });

  await check("permessage-deflate over HTTP/2", async () => {
    const ext = await alice.locator("#status").getAttribute("data-extensions");
    if (!cfg.deflate) return { skip: "the server was started without -compress" };
    if (!ext.startsWith("permessage-deflate")) throw new Error(`ws.extensions is ${JSON.stringify(ext)}`);
    return `ws.extensions = ${ext}`;
  });

  await check("text both ways between two tabs", async () => {
    await alice.fill("#text", "hello over h2 ✓");
    await alice.press("#text", "Enter");
    await bob.locator("#messages li", { hasText: "hello over h2 ✓" }).filter({ hasText: "Alice" }).waitFor();
    await bob.fill("#text", "hi Alice, same connection");
    await bob.press("#text", "Enter");
    await alice.locator("#messages li", { hasText: "hi Alice, same connection" }).filter({ hasText: "Bob" }).waitFor();
    return "typed in one tab, shown in the other, both ways";
  });

  await check("binary both ways between two tabs", async () => {
    const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 31) & 0xff));
    for (const [from, to, file] of [[alice, bob, "a.bin"], [bob, alice, "b.bin"]]) {
      await from.setInputFiles("#file", { name: file, mimeType: "application/octet-stream", buffer: bytes });
      const link = to.locator("#messages a.file", { hasText: `${file} (70000 bytes)` });
      await link.waitFor();
      const got = await link.evaluate(async (a) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
      if (!bytes.equals(Buffer.from(got))) throw new Error(`${file} arrived as ${got.length} different bytes`);
    }
    return "70000 bytes as one binary message, each way, intact";
  });

  // Sockets of the page's own, in Alice's tab: each welcome must say h2,
  // and every byte can be compared.
  await check("raw sockets over HTTP/2", async () => {
    return await alice.evaluate(async () => {
      const h = window.__interop;
      const a = h.open(), b = h.open();
      for (const w of [await a.joined, await b.joined]) {
        if (w.transport !== "h2") throw new Error(`a welcome says transport ${JSON.stringify(w.transport)}`);
      }
      const got = async (s, what) => {
        const ev = await s.next(what);
        if (ev.type !== "message") throw new Error(`want ${what}, got ${JSON.stringify(ev)}`);
        return ev.data;
      };
      a.ws.send("text over h2 ✓");
      if ((await got(b, "text")) !== "text over h2 ✓") throw new Error("text differs");
      const bin = h.pattern(200000, 3);
      b.ws.send(bin);
      const gotBin = await got(a, "binary");
      if (!(gotBin instanceof ArrayBuffer) || !h.same(new Uint8Array(gotBin), bin)) throw new Error("binary differs or came as text");
      a.ws.close(1000);
      b.ws.close(1000);
      const closes = [await a.next("a's close"), await b.next("b's close")];
      for (const ev of closes) if (ev.type !== "close" || ev.code !== 1000 || !ev.wasClean) throw new Error(`got ${JSON.stringify(ev)}, want a clean close 1000`);
      return "two welcomes with transport h2; text and 200000 bytes of binary relayed; clean closes";
    });
  });

  await check("no page errors", async () => {
    if (pageErrors.length) throw new Error(pageErrors.join("; "));
  });

  await alice.close();
  await bob.close();
}
