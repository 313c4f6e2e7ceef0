// Throughput of the GCS plugin beside the Google Cloud Storage SDK alone, on
// one local fake-gcs-server.
//
//   pnpm --filter @argo-artifact-drivers/driver-gcs bench
//   BENCH_MIB=64 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Prints Save, Load and OpenStream of one file (256 MiB by default) through
// the plugin (its real entrypoint on a Unix socket, driven by the test client
// as Argo drives it) and the same transfers made directly with the SDK, with
// the same client options (native CRC32C, checked on upload and download,
// single-request resumable upload), then the plugin's peak resident memory.
// Best of BENCH_ROUNDS rounds. fake-gcs-server keeps every object in memory
// (a 1 GiB upload took it to 6.9 GB), so sizes above 256 MiB are refused unless
// BENCH_FORCE=1, and the server is restarted for every round.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PluginProcess, writeRandomFile } from "@argo-artifact-drivers/conformance";
import { Storage } from "@google-cloud/storage";
import { crc32c } from "@node-rs/crc32";
import { PassThroughClient } from "google-auth-library";
import { createBucket, fakeGcsServerPath, startFakeGcs } from "../test/backend.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_MIB ?? 256);
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
const bytes = sizeMiB * MiB;
const bucket = "bench";
if (sizeMiB > 256 && process.env.BENCH_FORCE !== "1") {
  throw new Error(`BENCH_MIB=${sizeMiB}: fake-gcs-server holds objects in RAM; set BENCH_FORCE=1`);
}
process.env.METADATA_SERVER_DETECTION = "none";

/** The SDK's CRC32C interface on @node-rs/crc32, as the plugin uses it. */
function nativeCrc32c() {
  let value = 0;
  const encode = () => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(value >>> 0);
    return out.toString("base64");
  };
  return {
    update(data) {
      value = crc32c(data, value);
    },
    toString: encode,
    validate: (expected) => expected === encode(),
  };
}

const work = await mkdtemp(join(tmpdir(), "gcs-bench-"));
const server = fakeGcsServerPath();
const source = join(work, "source.bin");
const target = join(work, "target.bin");
const best = new Map();
let peak = 0;
let endpoint = "";
try {
  await writeRandomFile(source, bytes);
  for (let round = 0; round < rounds; round++) {
    const emulator = await startFakeGcs(server);
    endpoint = emulator.endpoint;
    let plugin;
    try {
      await createBucket(emulator.endpoint, bucket);
      const file = new Storage({
        apiEndpoint: emulator.endpoint,
        projectId: "bench",
        authClient: new PassThroughClient(),
        useAuthWithCustomEndpoint: true,
        retryOptions: { autoRetry: false },
        crc32cGenerator: nativeCrc32c,
      })
        .bucket(bucket)
        .file("direct.bin");
      plugin = await PluginProcess.start(
        join(import.meta.dirname, "../dist/main.js"),
        join(work, "plugin.sock"),
        {
          LOG_LEVEL: "warn",
          // e.g. --max-semi-space-size=1, to see the effect of V8 flags on peak RSS.
          NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
        },
      );
      const client = plugin.client(
        [`endpoint: ${emulator.endpoint}`, `bucket: ${bucket}`, "anonymous: true"].join("\n"),
        "gcs",
      );
      const direct = {
        async Save() {
          await pipeline(
            createReadStream(source, { highWaterMark: 2 * MiB }),
            file.createWriteStream({ resumable: true, validation: "crc32c" }),
          );
        },
        async Load() {
          await pipeline(download(file), createWriteStream(target));
          await expectSize(target);
        },
        async OpenStream() {
          let received = 0;
          await pipeline(
            download(file),
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
      for (const operation of ["Save", "Load", "OpenStream"]) {
        await rm(target, { force: true });
        const sdkRate = await rate(direct[operation]);
        await rm(target, { force: true });
        const pluginRate = await rate(viaPlugin[operation]);
        const previous = best.get(operation) ?? { direct: 0, plugin: 0 };
        best.set(operation, {
          direct: Math.max(previous.direct, sdkRate),
          plugin: Math.max(previous.plugin, pluginRate),
        });
      }
      peak = Math.max(peak, await plugin.peakRss());
      client.close();
    } finally {
      await plugin?.stop();
      await emulator.stop();
    }
  }

  console.log(
    `\nGCS driver on fake-gcs-server ${endpoint}: ${sizeMiB} MiB, best of ${rounds} round(s)\n`,
  );
  console.log("operation    plugin MB/s   direct SDK MB/s   plugin/direct");
  for (const [operation, row] of best) {
    console.log(
      `${operation.padEnd(12)} ${row.plugin.toFixed(1).padStart(11)}   ${row.direct.toFixed(1).padStart(15)}   ${((100 * row.plugin) / row.direct).toFixed(0).padStart(12)}%`,
    );
  }
  console.log(`\nplugin peak RSS (VmHWM): ${(peak / MiB).toFixed(0)} MiB`);
} finally {
  await rm(work, { recursive: true, force: true });
}

/** A checked download, as the plugin makes it (without the SDK's leak warning). */
function download(file) {
  return file
    .createReadStream({ validation: "crc32c" })
    .once("response", (response) => response.setMaxListeners?.(32));
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
