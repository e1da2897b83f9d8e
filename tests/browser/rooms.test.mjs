// The rooms client (/wsbolt-rooms.js) in Chromium against `wsbolt serve`:
// recovery across cut connections under a steady publisher, a restarted
// server (not recovered, new epoch, live again), and tokens through the
// subprotocol with a refresh.
//
//   cd tests/browser && npm test

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { launch, out, portInUse, serve, stopAll, waitForPort } from "./harness.mjs";

const NODE = 9981; // wsbolt serve
const TUNNEL = 9982; // a TCP relay to NODE whose connections the test cuts
const TOKENS = 9983; // wsbolt serve with rooms tokens
const origin = `http://localhost:${NODE}`;

let browser;
let node;
let tunnel;

/** A TCP relay from `from` to `to`; `cut()` ends every connection through it. */
async function relay(from, to) {
  if (await portInUse(from)) throw new Error(`127.0.0.1:${from} is already in use`);
  const open = new Set();
  const server = net.createServer((down) => {
    const up = net.connect(to, "127.0.0.1");
    open.add(down);
    open.add(up);
    const end = () => {
      down.destroy();
      up.destroy();
      open.delete(down);
      open.delete(up);
    };
    for (const s of [down, up]) {
      s.on("error", end);
      s.on("close", end);
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise((resolve) => server.listen(from, "127.0.0.1", resolve));
  return {
    cut() {
      const n = open.size / 2;
      for (const s of open) s.destroy();
      open.clear();
      return n;
    },
    close: () => server.close(),
  };
}

function startNode() {
  return serve(NODE, ["--allow-origin", origin]);
}

before(async () => {
  fs.mkdirSync(out, { recursive: true });
  node = await startNode();
  tunnel = await relay(TUNNEL, NODE);
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (tunnel) tunnel.close();
  stopAll();
});

/** A page of the node with the client module loaded as `window.rooms`. */
async function clientPage(port = NODE) {
  const p = await browser.newPage();
  p.on("pageerror", (e) => console.error("page error:", e));
  await p.goto(`http://localhost:${port}/`);
  await p.evaluate(async () => {
    window.rooms = await import("/wsbolt-rooms.js");
  });
  return p;
}

// The reader: a client through the tunnel, following `room`, recording what
// it gets and when its connection dropped and came back.
async function reader(room) {
  const p = await clientPage();
  await p.evaluate(({ url, room }) => {
    const c = new window.rooms.RoomsClient(url, { minDelay: 100, maxDelay: 1000 });
    window.log = { got: [], offsets: [], opens: 0, closes: [], recovered: [], notrecovered: [], firstAfterClose: [] };
    c.addEventListener("open", () => window.log.opens++);
    c.addEventListener("close", () => window.log.closes.push(performance.now()));
    const r = c.subscribe(room);
    r.addEventListener("publication", (e) => {
      const l = window.log;
      if (l.closes.length > l.firstAfterClose.length) l.firstAfterClose.push(performance.now() - l.closes.at(-1));
      l.got.push(e.detail.data.n);
      l.offsets.push(e.detail.offset);
    });
    r.addEventListener("recovered", (e) => window.log.recovered.push(e.detail.missed));
    r.addEventListener("notrecovered", (e) => window.log.notrecovered.push(e.detail));
    window.client = c;
    window.room = r;
  }, { url: `ws://localhost:${TUNNEL}/rooms`, room });
  await p.waitForFunction(() => window.client.connected && window.room.epoch !== null);
  return p;
}

// The publisher: a client straight to the node publishing {n} at 50/s.
async function publisher(room) {
  const p = await clientPage();
  await p.evaluate(({ url, room }) => {
    const c = new window.rooms.RoomsClient(url, { minDelay: 100, maxDelay: 1000 });
    window.pub = { room: c.subscribe(room), sent: 0, failed: 0 };
    window.client = c;
  }, { url: `ws://localhost:${NODE}/rooms`, room });
  await p.waitForFunction(() => window.client.connected);
  return p;
}

function publishAt50PerSecond(p, count) {
  return p.evaluate(async (count) => {
    for (let n = 1; n <= count; n++) {
      const due = performance.now() + 20;
      await window.pub.room.publish({ n });
      window.pub.sent = n;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
  }, count);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test("a page whose connection is cut 8 times under 50 messages/s gets every message once and in order", async () => {
  const room = "tunnel";
  const a = await reader(room);
  const b = await publisher(room);
  const count = 300; // six seconds at 50/s
  const publishing = publishAt50PerSecond(b, count);
  let cuts = 0;
  for (let i = 0; i < 8; i++) {
    await sleep(600);
    cuts += tunnel.cut();
  }
  await publishing;
  await a.waitForFunction((count) => window.log.got.length >= count, count, { timeout: 20000 });
  await sleep(300); // a duplicate would arrive now
  const log = await a.evaluate(() => window.log);
  assert.equal(cuts, 8, "each cut ended the reader's one connection");
  assert.deepEqual(log.got, Array.from({ length: count }, (_, i) => i + 1), "every message once, in order");
  for (let i = 1; i < log.offsets.length; i++) assert.ok(log.offsets[i] > log.offsets[i - 1], "offsets increase");
  assert.equal(log.closes.length, 8);
  assert.equal(log.opens, 9, "came back after each cut");
  assert.equal(log.recovered.length, 8, "each resubscription recovered");
  assert.deepEqual(log.notrecovered, []);
  const missed = log.recovered;
  console.log(`# rooms in Chromium: 8 cuts; recovered per cut median ${median(missed)} worst ${Math.max(...missed)} messages; ` +
    `close to first message after it median ${median(log.firstAfterClose).toFixed(0)} ms worst ${Math.max(...log.firstAfterClose).toFixed(0)} ms ` +
    `(reconnect backoff 100-1000 ms with jitter)`);
  await a.close();
  await b.close();
});

test("after the server restarts empty the page hears notrecovered with a new epoch, then live messages again", async () => {
  const room = "restart";
  const a = await reader(room);
  const b = await publisher(room);
  await b.evaluate(() => window.pub.room.publish({ n: 1 }));
  await a.waitForFunction(() => window.log.got.length === 1);
  const before = await a.evaluate(() => ({ epoch: window.room.epoch, offset: window.room.offset }));
  node.kill("SIGKILL");
  await new Promise((r) => node.once("exit", r));
  node = await startNode();
  await a.waitForFunction(() => window.log.notrecovered.length === 1, null, { timeout: 15000 });
  const lost = await a.evaluate(() => window.log.notrecovered[0]);
  assert.notEqual(lost.epoch, before.epoch, "a restarted node starts a new epoch");
  assert.deepEqual(lost.previous, before);
  // The publisher came back too; what it publishes now arrives live.
  await b.waitForFunction(() => window.client.connected && window.pub.room.epoch !== null, null, { timeout: 15000 });
  await b.evaluate(() => window.pub.room.publish({ n: 2 }));
  await a.waitForFunction(() => window.log.got.length === 2, null, { timeout: 10000 });
  assert.deepEqual(await a.evaluate(() => window.log.got), [1, 2]);
  assert.equal(await a.evaluate(() => window.room.epoch), lost.epoch);
  await a.close();
  await b.close();
});

function hs256(claims, secret) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const signed = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${signed}.${crypto.createHmac("sha256", secret).update(signed).digest("base64url")}`;
}

test("a token through the subprotocol: the server answers wsbolt.rooms.v1, rooms are bounded, a refresh keeps the page connected", async () => {
  const secret = crypto.randomBytes(32).toString("hex");
  const keyFile = path.join(out, "rooms-secret");
  fs.writeFileSync(keyFile, secret);
  await serve(TOKENS, ["--rooms-token-key", keyFile, "--rooms-token-grace", "10"]);
  await waitForPort(TOKENS);
  let issued = 0;
  const p = await clientPage(TOKENS);
  // The page asks the test for tokens; the first expires in 2 s.
  await p.exposeFunction("freshToken", () => {
    issued++;
    const exp = Math.floor(Date.now() / 1000) + (issued === 1 ? 2 : 3600);
    return hs256({ sub: "ann", exp, rooms: { subscribe: ["team.*"], publish: ["team.*"] } }, secret);
  });
  await p.evaluate((url) => {
    const c = new window.rooms.RoomsClient(url, { token: () => window.freshToken() });
    window.t = { opens: [], closes: 0, expired: 0, refreshed: 0, errors: [] };
    c.addEventListener("open", (e) => window.t.opens.push(e.detail));
    c.addEventListener("close", () => window.t.closes++);
    c.addEventListener("expired", () => window.t.expired++);
    c.addEventListener("refreshed", () => window.t.refreshed++);
    window.client = c;
  }, `ws://localhost:${TOKENS}/rooms`);
  await p.waitForFunction(() => window.client.connected);
  const r = await p.evaluate(async () => {
    const c = window.client;
    const team = c.subscribe("team.a");
    const got = new Promise((resolve) => team.addEventListener("publication", (e) => resolve(e.detail), { once: true }));
    await new Promise((resolve) => team.addEventListener("subscribed", resolve, { once: true }));
    const published = await team.publish({ hi: 1 });
    const delivered = await got;
    const refusal = (promise) => promise.then(() => "allowed", (e) => e.code);
    const secret = c.subscribe("secret");
    const subscribeError = await new Promise((resolve) => secret.addEventListener("error", (e) => resolve(e.detail.error.code), { once: true }));
    const other = new window.rooms.Room(c, "other", false);
    return {
      protocol: c.ws.protocol,
      user: window.t.opens[0].user,
      published: published.offset,
      delivered: { user: delivered.user, data: delivered.data },
      subscribeError,
      publishError: await refusal(other.publish({ no: 1 })),
    };
  });
  assert.equal(r.protocol, "wsbolt.rooms.v1", "the token subprotocol is not echoed back");
  assert.equal(r.user, "ann");
  assert.equal(r.published, 1);
  assert.deepEqual(r.delivered, { user: "ann", data: { hi: 1 } });
  assert.equal(r.subscribeError, "forbidden");
  assert.equal(r.publishError, "forbidden");
  // The first token expires; the client fetches a new one and stays.
  await p.waitForFunction(() => window.t.refreshed === 1, null, { timeout: 10000 });
  const t = await p.evaluate(() => window.t);
  assert.equal(t.expired, 1);
  assert.equal(t.closes, 0, "refreshed without reconnecting");
  assert.equal(t.opens.length, 1);
  assert.equal(issued, 2);
  await p.close();
});
