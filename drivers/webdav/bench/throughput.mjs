// Throughput of the WebDAV plugin beside the `webdav` client alone, on one
// local Apache httpd (mod_dav_fs, basic authentication), same run.
//
//   pnpm --filter @argo-artifact-drivers/driver-webdav bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Prints Save, Load and OpenStream of one file (1 GiB by default) through the
// plugin (its real entrypoint on a Unix socket, driven by the test client as
// Argo drives it) and the same transfers made directly with the `webdav`
// client (putFileContents of a file stream for Save, createReadStream into a
// file for Load and into nothing for OpenStream), then the plugin's peak
// resident memory. Best of BENCH_ROUNDS rounds. Needs root (Apache runs as
// www-data, started by the tests' global setup).
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PluginProcess, writeRandomFile } from "@argo-artifact-drivers/conformance";
import { createClient } from "webdav";
import startServers from "../test/global-setup.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_MIB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
const bytes = sizeMiB * MiB;

const provided = {};
const stopServers = await startServers({ provide: (name, value) => (provided[name] = value) });
const { webdav: dav } = provided;
const work = await mkdtemp(join(tmpdir(), "webdav-bench-"));
const source = join(work, "source.bin");
const target = join(work, "target.bin");
const url = `${dav.apache}/basic/`;
let plugin;
try {
  await writeRandomFile(source, bytes);
  const direct = createClient(url, { username: dav.username, password: dav.password });
  plugin = await PluginProcess.start(
    join(import.meta.dirname, "../dist/main.js"),
    join(work, "plugin.sock"),
    {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      BENCH_USER: dav.username,
      BENCH_PASSWORD: dav.password,
      LOG_LEVEL: "warn",
      NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
    },
  );
  const client = plugin.client(
    [
      `url: ${url}`,
      "usernameSecret: {env: BENCH_USER}",
      "passwordSecret: {env: BENCH_PASSWORD}",
    ].join("\n"),
    "webdav",
  );

  const viaClient = {
    async Save() {
      const stored = await direct.putFileContents("/direct.bin", createReadStream(source));
      if (!stored) throw new Error("putFileContents stored nothing");
    },
    async Load() {
      await pipeline(direct.createReadStream("/direct.bin"), createWriteStream(target));
      await expectSize(target);
    },
    async OpenStream() {
      let received = 0;
      await pipeline(
        direct.createReadStream("/direct.bin"),
        new Writable({
          write(chunk, _encoding, done) {
            received += chunk.length;
            done();
          },
        }),
      );
      if (received !== bytes) throw new Error(`direct OpenStream got ${received} bytes`);
    },
  };
  const viaPlugin = {
    async Save() {
      await client.save("plugin.bin", source);
    },
    async Load() {
      await client.load("plugin.bin", target);
      await expectSize(target);
    },
    async OpenStream() {
      let received = 0;
      for await (const chunk of client.openStream("plugin.bin")) received += chunk.length;
      if (received !== bytes) throw new Error(`plugin OpenStream got ${received} bytes`);
    },
  };

  const rows = [];
  for (const operation of (process.env.BENCH_OPERATIONS ?? "Save Load OpenStream").split(" ")) {
    let best = { direct: 0, plugin: 0 };
    for (let round = 0; round < rounds; round++) {
      await rm(target, { force: true });
      const clientRate = await rate(viaClient[operation]);
      await rm(target, { force: true });
      const pluginRate = await rate(viaPlugin[operation]);
      best = {
        direct: Math.max(best.direct, clientRate),
        plugin: Math.max(best.plugin, pluginRate),
      };
    }
    rows.push({ operation, ...best });
  }
  const peak = await plugin.peakRss();
  client.close();

  console.log(`\nWebDAV driver on Apache ${url}: ${sizeMiB} MiB, best of ${rounds} round(s)\n`);
  console.log("operation    plugin MB/s   direct webdav client MB/s   plugin/direct");
  for (const row of rows) {
    console.log(
      `${row.operation.padEnd(12)} ${row.plugin.toFixed(1).padStart(11)}   ${row.direct.toFixed(1).padStart(25)}   ${((100 * row.plugin) / row.direct).toFixed(0).padStart(12)}%`,
    );
  }
  console.log(`\nplugin peak RSS (VmHWM): ${(peak / MiB).toFixed(0)} MiB`);
} finally {
  await plugin?.stop();
  await stopServers();
  await rm(work, { recursive: true, force: true });
}

/** MB/s (10^6 bytes per second) of one run of `transfer`. */
async function rate(transfer) {
  const started = performance.now();
  await transfer();
  return bytes / 1e6 / ((performance.now() - started) / 1000);
}

async function expectSize(path) {
  const { size } = await stat(path);
  if (size !== bytes) throw new Error(`${path} has ${size} bytes, expected ${bytes}`);
}
