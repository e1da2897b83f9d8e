// The rooms client (/wsbolt-rooms.js) in Chromium against three `wsbolt
// serve --redis` nodes and a real redis-server: the node a page is
// connected to is killed (SIGKILL) 20 times while another page publishes 50
// messages/s; the page comes back on another node each time and has every
// message once and in order. Then Redis is restarted empty: the page hears
// `notrecovered` with a new epoch, and live delivery resumes.
//
//   cd tests/browser && node --test rooms_cluster.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { launch, out, portInUse, serve, servers, stopAll, waitForPort } from "./harness.mjs";

const REDIS = 16398;
// The reader's two nodes (killed in turn) and the publisher's node.
const READER_NODES = [9984, 9985];
const PUBLISHER_NODE = 9986;
const origin = `http://localhost:${PUBLISHER_NODE}`;
const KILLS = 20;

let browser;
let redis;
const nodes = new Map();

function startRedis() {
  const r = spawn("redis-server", ["--port", `${REDIS}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  servers.push(r);
  return r;
}

async function startNode(port) {
  nodes.set(port, await serve(port, ["--redis", `redis://127.0.0.1:${REDIS}`, "--allow-origin", origin]));
}

async function kill(child) {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

before(async () => {
  fs.mkdirSync(out, { recursive: true });
  for (const p of [REDIS, ...READER_NODES, PUBLISHER_NODE]) {
    if (await portInUse(p)) throw new Error(`127.0.0.1:${p} is already in use`);
  }
  redis = startRedis();
  await waitForPort(REDIS);
  for (const port of [...READER_NODES, PUBLISHER_NODE]) await startNode(port);
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  stopAll();
});

async function clientPage() {
  const p = await browser.newPage();
  p.on("pageerror", (e) => console.error("page error:", e));
  await p.goto(`${origin}/`);
  await p.evaluate(async () => {
    window.rooms = await import("/wsbolt-rooms.js");
  });
  return p;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const room = "cluster";
let reader;
let publisher;

test("a page whose node is killed 20 times under 50 messages/s gets every message once and in order", async () => {
  reader = await clientPage();
  await reader.evaluate(({ urls, room }) => {
    const c = new window.rooms.RoomsClient(urls, { minDelay: 100, maxDelay: 1000 });
    const log = { got: [], opens: [], closes: [], sinceOpen: 0, recovered: [], notrecovered: [], firstAfterClose: [] };
    window.log = log;
    c.addEventListener("open", () => { log.opens.push(c.ws.url); log.sinceOpen = 0; });
    c.addEventListener("close", () => log.closes.push(performance.now()));
    const r = c.subscribe(room);
    r.addEventListener("publication", (e) => {
      if (log.closes.length > log.firstAfterClose.length) log.firstAfterClose.push(performance.now() - log.closes.at(-1));
      log.got.push(e.detail.data.n);
      log.sinceOpen++;
    });
    r.addEventListener("recovered", (e) => log.recovered.push(e.detail.missed));
    r.addEventListener("notrecovered", (e) => log.notrecovered.push(e.detail));
    window.client = c;
    window.room = r;
  }, { urls: READER_NODES.map((p) => `ws://localhost:${p}/rooms`), room });
  publisher = await clientPage();
  await publisher.evaluate(({ url, room }) => {
    const c = new window.rooms.RoomsClient(url, { minDelay: 100, maxDelay: 1000 });
    window.pub = { room: c.subscribe(room), sent: 0, stop: false };
    window.client = c;
  }, { url: `ws://localhost:${PUBLISHER_NODE}/rooms`, room });
  await publisher.waitForFunction(() => window.client.connected && window.pub.room.epoch !== null);
  await reader.waitForFunction(() => window.client.connected && window.room.epoch !== null);
  const publishing = publisher.evaluate(async () => {
    for (let n = 1; !window.pub.stop; n++) {
      const due = performance.now() + 20;
      await window.pub.room.publish({ n });
      window.pub.sent = n;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
  });
  const killedOn = [];
  for (let k = 0; k < KILLS; k++) {
    // Connected, subscribed and receiving: then its node dies.
    await reader.waitForFunction(() => window.client.connected && window.log.sinceOpen >= 10, null, { timeout: 20000 });
    const url = await reader.evaluate(() => window.client.ws.url);
    const port = Number(new URL(url).port);
    killedOn.push(port);
    const opens = await reader.evaluate(() => window.log.opens.length);
    await kill(nodes.get(port));
    // Back on the other node before the killed one returns.
    await reader.waitForFunction((n) => window.log.opens.length > n && window.client.connected, opens, { timeout: 20000 });
    const now = await reader.evaluate(() => window.client.ws.url);
    assert.notEqual(Number(new URL(now).port), port, "came back on another node");
    await startNode(port);
    await sleep(200);
  }
  await publisher.evaluate(() => { window.pub.stop = true; });
  await publishing;
  const sent = await publisher.evaluate(() => window.pub.sent);
  await reader.waitForFunction((sent) => window.log.got.length >= sent, sent, { timeout: 20000 });
  await sleep(300); // a duplicate would arrive now
  const log = await reader.evaluate(() => window.log);
  assert.deepEqual(log.got, Array.from({ length: sent }, (_, i) => i + 1), "every message once, in order");
  assert.equal(log.closes.length, KILLS);
  assert.equal(log.recovered.length, KILLS, "each resubscription on another node recovered");
  assert.deepEqual(log.notrecovered, []);
  assert.ok(new Set(killedOn).size === 2, "both reader nodes were killed");
  const missed = log.recovered;
  const took = log.firstAfterClose;
  console.log(`# rooms cluster in Chromium: ${KILLS} node kills (SIGKILL), ${sent} messages at 50/s, all once and in order; ` +
    `recovered per kill median ${median(missed)} worst ${Math.max(...missed)} messages; ` +
    `kill to first message after it median ${median(took).toFixed(0)} ms worst ${Math.max(...took).toFixed(0)} ms ` +
    `(reconnect backoff 100-1000 ms with jitter)`);
});

test("after Redis restarts empty the page hears notrecovered with a new epoch, then live messages again", async () => {
  const before = await reader.evaluate(() => ({ epoch: window.room.epoch, offset: window.room.offset, got: window.log.got.length }));
  const exited = new Promise((r) => redis.once("exit", r));
  redis.kill("SIGKILL");
  await exited;
  // Publishing while Redis is away fails plainly.
  const refused = await publisher.evaluate(() => window.pub.room.publish({ n: -1 }).then(() => "published", (e) => e.code));
  assert.equal(refused, "unavailable");
  redis = startRedis();
  await waitForPort(REDIS);
  const published = await publisher.evaluate(async () => {
    for (let i = 0; i < 100; i++) {
      try {
        return await window.pub.room.publish({ n: "again" });
      } catch (e) {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return null;
  });
  assert.ok(published, "publishing works again once Redis is back");
  assert.notEqual(published.epoch, before.epoch, "Redis restarted empty: a new epoch");
  await reader.waitForFunction((n) => window.log.got.length > n, before.got, { timeout: 15000 });
  const log = await reader.evaluate(() => window.log);
  assert.equal(log.notrecovered.length, 1, "told once that it cannot recover");
  assert.equal(log.notrecovered[0].epoch, published.epoch);
  assert.deepEqual(log.notrecovered[0].previous, { epoch: before.epoch, offset: before.offset });
  assert.equal(log.got.at(-1), "again", "then live delivery");
  await reader.close();
  await publisher.close();
});
