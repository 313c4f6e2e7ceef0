// Throughput of the S3 plugin beside the AWS SDK alone, on one local moto server.
//
//   pnpm --filter @argo-artifact-drivers/driver-s3 bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Prints Save, Load and OpenStream of one file (1 GiB by default) through the
// plugin (its real entrypoint on a Unix socket, driven by the test client as
// Argo drives it) and the same transfers made directly with the SDK
// (lib-storage Upload for Save, a streamed GetObject for Load and OpenStream),
// then the plugin's peak resident memory. Best of BENCH_ROUNDS rounds.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PluginProcess, writeRandomFile } from "@argo-artifact-drivers/conformance";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { motoServerPath, startMoto } from "../test/moto.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_MIB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
const bytes = sizeMiB * MiB;
const bucket = "bench";

const work = await mkdtemp(join(tmpdir(), "s3-bench-"));
const moto = await startMoto(motoServerPath());
const source = join(work, "source.bin");
const target = join(work, "target.bin");
let plugin;
try {
  await writeRandomFile(source, bytes);
  const credentials = { accessKeyId: "bench", secretAccessKey: "bench-secret" };
  const sdk = new S3Client({
    endpoint: moto.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  await sdk.send(new CreateBucketCommand({ Bucket: bucket }));

  plugin = await PluginProcess.start(
    join(import.meta.dirname, "../dist/main.js"),
    join(work, "plugin.sock"),
    {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      BENCH_KEY: "bench",
      BENCH_SECRET: "bench-secret",
      LOG_LEVEL: "warn",
      // e.g. --max-semi-space-size=1, to see the effect of V8 flags on peak RSS.
      NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
    },
  );
  const client = plugin.client(
    [
      `endpoint: ${moto.endpoint}`,
      `bucket: ${bucket}`,
      "accessKeySecret: {env: BENCH_KEY}",
      "secretKeySecret: {env: BENCH_SECRET}",
      // The default, 1, is one GET like the direct SDK side; moto reads a whole
      // object for every ranged GET, so more ranges cost it O(size²).
      ...(process.env.BENCH_DOWNLOAD_CONCURRENCY
        ? [`downloadConcurrency: ${process.env.BENCH_DOWNLOAD_CONCURRENCY}`]
        : []),
    ].join("\n"),
    "s3",
  );

  const direct = {
    async Save() {
      const upload = new Upload({
        client: sdk,
        params: { Bucket: bucket, Key: "direct.bin", Body: createReadStream(source) },
        partSize: 16 * MiB,
        queueSize: 4,
      });
      await upload.done();
    },
    async Load() {
      const object = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: "direct.bin" }));
      await pipeline(object.Body, createWriteStream(target));
      await expectSize(target);
    },
    async OpenStream() {
      const object = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: "direct.bin" }));
      let received = 0;
      await pipeline(
        object.Body,
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
      await rm(target, { force: true });
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
  for (const operation of ["Save", "Load", "OpenStream"]) {
    let best = { direct: 0, plugin: 0 };
    for (let round = 0; round < rounds; round++) {
      await rm(target, { force: true });
      const sdkRate = await rate(direct[operation]);
      await rm(target, { force: true });
      const pluginRate = await rate(viaPlugin[operation]);
      best = { direct: Math.max(best.direct, sdkRate), plugin: Math.max(best.plugin, pluginRate) };
    }
    rows.push({ operation, ...best });
  }
  const peak = await plugin.peakRss();
  client.close();

  console.log(`\nS3 driver on moto ${moto.endpoint}: ${sizeMiB} MiB, best of ${rounds} round(s)\n`);
  console.log("operation    plugin MB/s   direct SDK MB/s   plugin/direct");
  for (const row of rows) {
    console.log(
      `${row.operation.padEnd(12)} ${row.plugin.toFixed(1).padStart(11)}   ${row.direct.toFixed(1).padStart(15)}   ${((100 * row.plugin) / row.direct).toFixed(0).padStart(12)}%`,
    );
  }
  console.log(`\nplugin peak RSS (VmHWM): ${(peak / 1e6).toFixed(0)} MB`);
} finally {
  await plugin?.stop();
  await moto.stop();
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
