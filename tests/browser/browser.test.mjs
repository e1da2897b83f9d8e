// Real-browser tests: headless Debian Chromium (driven by playwright-core,
// which downloads nothing) against `wsbolt serve` on 127.0.0.1.
//
//   cd tests/browser && npm ci && npm test
//
// WSBOLT_BIN (default target/release/wsbolt) and CHROMIUM (default
// /usr/bin/chromium) override the binaries. Screenshots go to target/browser/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { launch, out, portInUse, root, serve, servers, bin, stopAll, waitForPort } from "./harness.mjs";

const MAIN = 9998; // the port the tutorial pages hard-code
const FOREIGN = 9997;
const SHUTDOWN = 9996;

let browser;

async function metric(port, line) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = text.split("\n").find((l) => l.startsWith(line));
  return m ? Number(m.split(" ").pop()) : 0;
}

before(async () => {
  fs.mkdirSync(out, { recursive: true });
  // The demo pages plus the tutorial page, served as one web root.
  const www = path.join(out, "www");
  fs.rmSync(www, { recursive: true, force: true });
  fs.cpSync(path.join(root, "crates", "wsbolt-server", "web"), www, { recursive: true });
  fs.copyFileSync(path.join(import.meta.dirname, "pages/seed-echo.html"), path.join(www, "seed-echo.html"));
  // `--allow-origin null` admits pages opened from disk (file://), which
  // browsers send as `Origin: null`; the default refuses them.
  await serve(MAIN, ["--web-root", www, "--handlers", path.join(import.meta.dirname, "handlers"), "--allow-origin", "null"]);
  await serve(FOREIGN, ["--web-root", path.join(import.meta.dirname, "foreign")]);
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  stopAll();
});

async function page(url) {
  const p = await browser.newPage();
  await p.goto(url);
  return p;
}

test("the tutorial echo page works unmodified", async () => {
  const p = await page(`http://localhost:${MAIN}/seed-echo.html`);
  await p.waitForFunction(() => document.getElementById("output").textContent.includes("DISCONNECTED"), null, { timeout: 10000 });
  const lines = await p.$$eval("#output p", (ps) => ps.map((x) => x.textContent));
  assert.deepEqual(lines, ["CONNECTED", "SENT: WebSocket rocks", "RESPONSE: WebSocket rocks", "DISCONNECTED"]);
  await p.close();
});

test("the tutorial page opened from a file works with --allow-origin null", async () => {
  const p = await page("file://" + path.join(import.meta.dirname, "pages/seed-echo.html"));
  await p.waitForFunction(() => document.getElementById("output").textContent.includes("DISCONNECTED"), null, { timeout: 10000 });
  const lines = await p.$$eval("#output p", (ps) => ps.map((x) => x.textContent));
  assert.deepEqual(lines, ["CONNECTED", "SENT: WebSocket rocks", "RESPONSE: WebSocket rocks", "DISCONNECTED"]);
  await p.close();
});

test("readyState, text and binary round trips, bufferedAmount, extensions, clean close", async () => {
  const p = await page(`http://localhost:${MAIN}/`);
  const r = await p.evaluate(async (port) => {
    const r = {};
    const ws = new WebSocket(`ws://localhost:${port}/echo`);
    r.initial = ws.readyState;
    ws.binaryType = "arraybuffer";
    const next = () => new Promise((res) => { ws.onmessage = (e) => res(e.data); });
    await new Promise((res) => { ws.onopen = () => { r.onopen = ws.readyState; res(); }; });
    r.extensions = ws.extensions;
    ws.send("hello");
    r.text = await next();
    ws.send(new Uint8Array([1, 2, 3, 250]).buffer);
    r.arraybuffer = Array.from(new Uint8Array(await next()));
    ws.send(new Blob([new Uint8Array([9, 8, 7])]));
    r.blob = Array.from(new Uint8Array(await next()));
    // Compressible text both ways, several times on the kept contexts,
    // longer than the 8 KiB window: matches reach across messages and to
    // the window's far end.
    r.compressed = true;
    for (let i = 0; i < 5; i++) {
      const text = Array.from({ length: 400 }, (_, k) => `{"user":"u${(k * 7 + i) % 13}","text":"message ${k} in round ${i}"}`).join(",");
      ws.send(text);
      if ((await next()) !== text) r.compressed = false;
    }
    // bufferedAmount rises by the bytes passed to send() and falls to 0.
    const big = new Uint8Array(8 * 1024 * 1024);
    const echoed = next();
    ws.send(big);
    r.bufferedAfterSend = ws.bufferedAmount;
    await echoed;
    r.bufferedAtEnd = ws.bufferedAmount;
    const closed = new Promise((res) => { ws.onclose = (e) => res({ code: e.code, reason: e.reason, wasClean: e.wasClean }); });
    ws.close(1000, "done here");
    r.afterClose = ws.readyState;
    r.close = await closed;
    r.final = ws.readyState;
    return r;
  }, MAIN);
  assert.equal(r.initial, 0);
  assert.equal(r.onopen, 1);
  // wsbolt serve asks Chromium to compress with 13-bit windows
  // (--deflate-window-bits' default), which Chromium's offer allows.
  assert.equal(r.extensions, "permessage-deflate; client_max_window_bits=13");
  assert.equal(r.text, "hello");
  assert.deepEqual(r.arraybuffer, [1, 2, 3, 250]);
  assert.deepEqual(r.blob, [9, 8, 7]);
  assert.ok(r.compressed, "compressible text came back intact");
  assert.ok(r.bufferedAfterSend > 0, `bufferedAmount after a large send: ${r.bufferedAfterSend}`);
  assert.equal(r.bufferedAtEnd, 0);
  assert.equal(r.afterClose, 2);
  assert.deepEqual(r.close, { code: 1000, reason: "done here", wasClean: true });
  assert.equal(r.final, 3);
  await p.close();
});

test("a server-initiated close is seen with its code", async () => {
  const p = await page(`http://localhost:${MAIN}/`);
  const r = await p.evaluate(async (port) => {
    const ws = new WebSocket(`ws://localhost:${port}/bye`);
    const msgs = [];
    ws.onmessage = (e) => msgs.push(e.data);
    const e = await new Promise((res) => { ws.onclose = res; });
    return { msgs, code: e.code, wasClean: e.wasClean };
  }, MAIN);
  assert.deepEqual(r, { msgs: ["goodbye from the server"], code: 1000, wasClean: true });
  await p.close();
});

test("two chat pages see each other, the user list, and a rename collision", async () => {
  const a = await page(`http://localhost:${MAIN}/chat.html`);
  const b = await page(`http://localhost:${MAIN}/chat.html`);
  await a.fill("#name", "alice");
  await a.click("#login");
  await a.waitForFunction(() => document.getElementById("userlistbox").textContent === "alice");
  await b.fill("#name", "alice");
  await b.click("#login");
  // The second "alice" is renamed; both lists show both users.
  await b.waitForFunction(() => document.getElementById("name").value === "alice1");
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.getElementById("userlistbox").textContent === "alicealice1");
  }
  await a.waitForSelector("#text:not([disabled])");
  await a.fill("#text", "Hello from <b>alice</b>");
  await a.click("#send");
  await b.fill("#text", "Hi alice, this is alice1");
  await b.click("#send");
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.getElementById("chatbox").textContent.includes("Hi alice, this is alice1"));
  }
  const text = await b.textContent("#chatbox");
  assert.match(text, /alice: Hello from alice/);
  assert.match(text, /alice1: Hi alice, this is alice1/);
  assert.match(text, /you are now known as alice1/);
  const shot = path.join(out, "chat.png");
  await b.screenshot({ path: shot });
  const png = fs.readFileSync(shot);
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  assert.ok(png.length > 5000, `screenshot of ${png.length} bytes`);
  console.log(`chat screenshot: ${shot}`);
  await a.close();
  await b.close();
});

test("a page from a foreign origin is refused (403)", async () => {
  const before403 = await metric(MAIN, 'wsbolt_handshake_failures_total{status="403"}');
  const p = await page(`http://localhost:${FOREIGN}/`);
  const events = await p.evaluate(() => window.result);
  assert.deepEqual(events, ["error", "close 1006 false"]);
  assert.equal(await metric(MAIN, 'wsbolt_handshake_failures_total{status="403"}'), before403 + 1);
  await p.close();
});

test("graceful shutdown: an open page sees close code 1001", async () => {
  const server = await serve(SHUTDOWN, []);
  const p = await page(`http://localhost:${SHUTDOWN}/`);
  await p.evaluate((port) => {
    // (not `window.closed`: that name is the window's own property)
    window.closeEvent = new Promise((res) => {
      const ws = new WebSocket(`ws://localhost:${port}/echo`);
      ws.onclose = (e) => res({ code: e.code, wasClean: e.wasClean });
      window.ws = ws;
    });
    return new Promise((res) => { const t = setInterval(() => { if (window.ws.readyState === 1) { clearInterval(t); res(); } }, 10); });
  }, SHUTDOWN);
  const exited = new Promise((res) => server.on("exit", (code) => res(code)));
  server.kill("SIGTERM");
  const e = await p.evaluate(() => window.closeEvent);
  assert.deepEqual(e, { code: 1001, wasClean: true });
  assert.equal(await exited, 0);
  await p.close();
});

test("wsbolt bench --report: the page draws both charts, with no network", async () => {
  const file = path.join(out, "bench-report.html");
  fs.rmSync(file, { force: true });
  const code = await new Promise((res) => {
    const child = spawn(bin, ["bench", `ws://127.0.0.1:${MAIN}/echo`, "-c", "4", "-d", "2", "--quiet", "--report", file],
      { stdio: ["ignore", "ignore", "inherit"] });
    child.on("exit", res);
  });
  assert.equal(code, 0);
  const p = await browser.newPage({ viewport: { width: 900, height: 1400 } });
  const requests = [];
  p.on("request", (r) => { if (!r.url().startsWith("file://")) requests.push(r.url()); });
  await p.goto("file://" + file);
  const charts = await p.$$eval("svg", (svgs) => svgs.map((s) => {
    const box = s.getBoundingClientRect();
    const line = s.querySelector("polyline");
    return { id: s.id, width: box.width, height: box.height, points: line.points.numberOfItems,
      drawn: line.getBBox().width };
  }));
  assert.deepEqual(charts.map((c) => c.id), ["throughput", "latency"]);
  for (const c of charts) {
    assert.ok(c.width > 700 && c.height > 250, JSON.stringify(c));
    assert.ok(c.points >= 4 && c.drawn > 100, JSON.stringify(c));
  }
  const rate = await p.$eval("#results", (t) => t.textContent);
  assert.match(rate, /\d+ messages\/s/);
  assert.deepEqual(requests, [], "the page fetched nothing");
  await p.screenshot({ path: path.join(out, "bench-report.png"), fullPage: true });
  await p.close();
});

test("chat pages on two nodes of a Redis cluster talk to each other", async () => {
  // A redis-server of our own (persistence off) and two nodes sharing it.
  const redisPort = 16399;
  const nodes = [9994, 9995];
  for (const p of [redisPort, ...nodes]) {
    if (await portInUse(p)) throw new Error(`127.0.0.1:${p} is already in use`);
  }
  const redis = spawn("redis-server", ["--port", `${redisPort}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  servers.push(redis);
  await waitForPort(redisPort);
  for (const port of nodes) await serve(port, ["--redis", `redis://127.0.0.1:${redisPort}`]);
  const [a, b] = [await page(`http://127.0.0.1:${nodes[0]}/chat.html`), await page(`http://127.0.0.1:${nodes[1]}/chat.html`)];
  await a.fill("#name", "ada");
  await a.click("#login");
  await a.waitForFunction(() => document.getElementById("userlistbox").textContent === "ada");
  // The same name on the other node is made unique across the cluster.
  await b.fill("#name", "ada");
  await b.click("#login");
  await b.waitForFunction(() => document.getElementById("name").value === "ada1");
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.getElementById("userlistbox").textContent === "adaada1");
  }
  await a.waitForSelector("#text:not([disabled])");
  await a.fill("#text", "Hello from node one");
  await a.click("#send");
  await b.waitForFunction(() => document.getElementById("chatbox").textContent.includes("Hello from node one"));
  await b.fill("#text", "And hello from node two");
  await b.click("#send");
  await a.waitForFunction(() => document.getElementById("chatbox").textContent.includes("And hello from node two"));
  assert.match(await a.textContent("#chatbox"), /ada1: And hello from node two/);
  assert.match(await b.textContent("#chatbox"), /ada: Hello from node one/);
  // Each message crossed through Redis: each node delivered one from the other.
  for (const port of nodes) assert.ok((await metric(port, "wsbolt_redis_received_total")) >= 1, `node ${port} received`);
  await b.screenshot({ path: path.join(out, "cluster-chat.png") });
  await a.close();
  await b.close();
});

// Chromium opens a WebSocket over HTTP/2 (RFC 8441) only on an HTTP/2
// connection it already holds to that origin whose server sent
// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: load a page over https first, then
// open the WebSockets from it. The server's own counter says which HTTP
// version each WebSocket used; `--disable-http2` is the control.
async function wssFromPage(port, extraArgs) {
  const b = await launch(["--ignore-certificate-errors", ...extraArgs]);
  try {
    const p = await b.newPage();
    const resp = await p.goto(`https://localhost:${port}/echo.html`);
    assert.equal(resp.status(), 200);
    const result = await p.evaluate(async () => {
      const open = (path, protocols) => new Promise((resolve, reject) => {
        const ws = new WebSocket(`wss://${location.host}${path}`, protocols);
        ws.onopen = () => resolve(ws);
        ws.onerror = () => reject(new Error(`${path} failed`));
      });
      const next = (ws) => new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
      const echo = await open("/echo");
      const got = next(echo);
      echo.send("over the page's connection");
      const echoed = await got;
      const chat = await open("/chat", ["json"]);
      const firstChat = next(chat);
      chat.send(JSON.stringify({ type: "username", name: "h2user" }));
      let chatMsg = JSON.parse(await firstChat);
      while (chatMsg.type !== "userlist") chatMsg = JSON.parse(await next(chat));
      const metrics = await (await fetch("/metrics")).text();
      const accepted = (v) => Number(metrics.split("\n").find((l) => l.startsWith(`wsbolt_connections_accepted_total{http="${v}"}`)).split(" ").pop());
      echo.close();
      chat.close();
      return { echoed, protocol: chat.protocol, extensions: echo.extensions, users: chatMsg.users, h1: accepted("1.1"), h2: accepted("2") };
    });
    await p.close();
    return result;
  } finally {
    await b.close();
  }
}

test("over https, Chromium opens the page's WebSockets over HTTP/2; with --disable-http2 over HTTP/1.1", async () => {
  const [h2Port, h1Port] = [9993, 9992];
  await serve(h2Port, ["--tls-self-signed"]);
  const h2 = await wssFromPage(h2Port, []);
  assert.equal(h2.echoed, "over the page's connection");
  assert.equal(h2.protocol, "json");
  assert.match(h2.extensions, /permessage-deflate/);
  assert.deepEqual(h2.users, ["h2user"]);
  assert.deepEqual([h2.h1, h2.h2], [0, 2], "both WebSockets went over HTTP/2");
  await serve(h1Port, ["--tls-self-signed"]);
  const h1 = await wssFromPage(h1Port, ["--disable-http2"]);
  assert.equal(h1.echoed, "over the page's connection");
  assert.deepEqual([h1.h1, h1.h2], [2, 0], "with HTTP/2 disabled, both went over HTTP/1.1");
});

test("the axum example app: Chromium's WebSocket goes over HTTP/2 with permessage-deflate", async () => {
  const port = 9991;
  if (await portInUse(port)) throw new Error(`127.0.0.1:${port} is already in use`);
  const app = spawn(path.join(root, "target/release/wsbolt-axum-example"), ["--tls-self-signed", `127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  servers.push(app);
  await waitForPort(port);
  const b = await launch(["--ignore-certificate-errors"]);
  try {
    const p = await b.newPage();
    await p.goto(`https://localhost:${port}/`);
    await p.waitForFunction(() => window.echoed !== undefined, null, { timeout: 10000 });
    assert.equal(await p.evaluate(() => window.echoed), "hello over https:");
    assert.match(await p.textContent("#log"), /open: protocol=echo extensions=permessage-deflate/);
    const stats = await p.evaluate(async () => (await fetch("/stats")).json());
    assert.deepEqual(stats, { http1: 0, http2: 1 });
    await p.screenshot({ path: path.join(out, "axum-http2.png") });
  } finally {
    await b.close();
  }
});
