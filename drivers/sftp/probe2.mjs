import { createReadStream, readFileSync } from "node:fs";
import { SftpAdapter } from "./dist/adapter.js";
import { hostKeyPolicy } from "./dist/host-key.js";

const b = JSON.parse(readFileSync("/tmp/sftp-backend.json", "utf8"));
const [mode, file] = process.argv.slice(2);
const logger = { debug() {}, warn() {}, info() {} };
const a = new SftpAdapter({
  host: b.host,
  port: b.port,
  username: b.username,
  password: b.password,
  privateKey: undefined,
  basePath: b.dataDir,
  hostKey: hostKeyPolicy({ host: b.host, port: b.port, insecure: true }),
  connectTimeoutMs: 10000,
  logger,
});
let peak = 0,
  ex = 0;
const tick = setInterval(() => {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.rss);
  ex = Math.max(ex, m.external);
}, 10);
const signal = new AbortController().signal;
const t = Date.now();
if (mode === "write")
  await a.write("probe/w.bin", createReadStream(file, { highWaterMark: 2 << 20 }), { signal });
if (mode === "writeFromFile") await a.writeFromFile("probe/w.bin", file, { signal });
if (mode === "read") {
  for await (const c of await a.read("big.bin", signal)) {
  }
}
if (mode === "readToFile") await a.readToFile("big.bin", "/tmp/probe-rtf.bin", signal);
console.log(mode, "ms", Date.now() - t, "peak rss", peak >> 20, "external", ex >> 20);
clearInterval(tick);
await a.close();
