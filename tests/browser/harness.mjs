// What the browser suites share: the binaries, ports, servers they start
// (stopped by `stopAll`) and Chromium's launch flags.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { chromium } from "playwright-core";

export const root = path.resolve(import.meta.dirname, "../..");
export const bin = process.env.WSBOLT_BIN || path.join(root, "target/release/wsbolt");
export const out = path.join(root, "target/browser");

/** Every process a suite started. */
export const servers = [];

export function waitForPort(port) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 15000;
    const attempt = () => {
      const s = net.connect(port, "127.0.0.1");
      s.on("connect", () => { s.destroy(); resolve(); });
      s.on("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export function portInUse(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(true); });
    s.on("error", () => { s.destroy(); resolve(false); });
  });
}

/** Starts `wsbolt serve` on 127.0.0.1:`port` and waits until it listens. */
export async function serve(port, args) {
  // Something else on the port would be tested instead of this build.
  if (await portInUse(port)) throw new Error(`127.0.0.1:${port} is already in use`);
  const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--log", "warn", ...args], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  servers.push(child);
  let exited = false;
  child.on("exit", () => { exited = true; });
  await waitForPort(port);
  if (exited) throw new Error(`wsbolt serve on ${port} exited at start`);
  return child;
}

export function stopAll() {
  for (const s of servers) s.kill("SIGTERM");
}

/** Headless Debian Chromium; `extraArgs` add to the common flags. */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}
