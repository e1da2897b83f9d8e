// Node `ws` as an independent peer of wsbolt (interop suite).
//
//   node peer.mjs server PORT    echo server (permessage-deflate on, 16 MiB limit)
//   node peer.mjs client URL     16 MiB of random bytes must echo intact; then
//                                16 MiB + 1 must be refused with a visible 1009
//
// Prints one JSON line per check; exits 1 if one failed.
import { randomBytes } from "node:crypto";
import { WebSocket, WebSocketServer } from "ws";

const LIMIT = 16 * 1024 * 1024;
const [mode, arg] = process.argv.slice(2);

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: LIMIT + 1024 });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function client(url) {
  let ok = true;
  const data = randomBytes(LIMIT);
  const ws = await open(url);
  const back = await new Promise((resolve, reject) => {
    ws.once("message", (m) => resolve(m));
    ws.once("close", (code) => reject(new Error(`closed ${code}`)));
    ws.send(data);
  });
  let good = Buffer.compare(back, data) === 0 && ws.extensions.includes("permessage-deflate");
  ok &&= good;
  console.log(JSON.stringify({ check: "16 MiB incompressible echo", extensions: ws.extensions, ok: good }));
  // A compressible message three times (see peer.py).
  const text = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ user: `u${i % 7}`, text: `message ${i} in the lobby` })));
  good = true;
  for (let i = 0; i < 3; i++) {
    const echoed = await new Promise((resolve, reject) => {
      ws.once("message", (m) => resolve(m.toString()));
      ws.once("close", (code) => reject(new Error(`closed ${code}`)));
      ws.send(text);
    });
    good &&= echoed === text;
  }
  ok &&= good;
  console.log(JSON.stringify({ check: "compressible text echoed 3 times", bytes: text.length, ok: good }));
  ws.close();
  const big = await open(url);
  const code = await new Promise((resolve) => {
    big.once("close", (c) => resolve(c));
    big.once("error", () => {});
    big.send(randomBytes(LIMIT + 1));
  });
  good = code === 1009;
  ok &&= good;
  console.log(JSON.stringify({ check: "oversized message closes with 1009", received: code, ok: good }));
  process.exit(ok ? 0 : 1);
}

if (mode === "server") {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(arg), perMessageDeflate: true, maxPayload: LIMIT });
  wss.on("connection", (ws) => ws.on("message", (m, binary) => ws.send(m, { binary })));
  wss.on("listening", () => console.log(JSON.stringify({ listening: Number(arg) })));
} else {
  client(arg).catch((e) => {
    console.log(JSON.stringify({ check: "connect", ok: false, error: String(e) }));
    process.exit(1);
  });
}
