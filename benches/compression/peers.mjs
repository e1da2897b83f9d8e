// Node `ws`'s permessage-deflate on the corpus, as a server with its
// defaults (15-bit windows, zlib's level 6, memLevel 8; messages under the
// 1,024-byte threshold are sent uncompressed) and once with threshold 0:
// compressed bytes and process CPU (all threads: zlib runs on libuv's pool)
// per input byte, median of the passes. Prints one JSON object per corpus
// file and setting. Run by ./run with the interop suite's node_modules.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

// By path: ws's package exports do not list its internal modules.
const require = createRequire(import.meta.url);
const PerMessageDeflate = require(path.join(process.env.WS_MODULES, 'ws/lib/permessage-deflate.js'));
const { version } = require(path.join(process.env.WS_MODULES, 'ws/package.json'));

function readMsgs(file) {
  const data = fs.readFileSync(file);
  const msgs = [];
  for (let i = 0; i < data.length; ) {
    const n = data.readUInt32BE(i);
    msgs.push(data.subarray(i + 4, i + 4 + n));
    i += 4 + n;
  }
  return msgs;
}

const compress = (pmd, m) =>
  new Promise((resolve, reject) => pmd.compress(m, true, (err, out) => (err ? reject(err) : resolve(out))));

const [corpus, passes] = [process.argv[2], Number(process.argv[3])];
for (const name of fs.readdirSync(corpus).filter((f) => f.endsWith('.msgs')).sort()) {
  const msgs = readMsgs(path.join(corpus, name));
  const bytesIn = msgs.reduce((a, m) => a + m.length, 0);
  for (const threshold of [1024, 0]) {
    const cpus = [];
    let wire = 0;
    for (let p = 0; p < passes; p++) {
      const pmd = new PerMessageDeflate({ isServer: true, threshold });
      pmd.accept([{}]);
      let out = 0;
      const t0 = process.cpuUsage();
      for (const m of msgs) {
        out += m.length >= threshold ? (await compress(pmd, m)).length : m.length;
      }
      const t = process.cpuUsage(t0);
      cpus.push((t.user + t.system) * 1000);
      pmd.cleanup();
      if (p === 0) wire = out;
    }
    cpus.sort((a, b) => a - b);
    const label = threshold === 1024 ? 'defaults' : 'threshold 0';
    console.log(JSON.stringify({ corpus: name.slice(0, -5), codec: `Node ws ${version} (${label})`, bytes_in: bytesIn,
      bytes_out: wire, cpu_ns: cpus[Math.floor(cpus.length / 2)] }));
  }
}
