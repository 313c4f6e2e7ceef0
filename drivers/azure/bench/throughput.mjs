// Throughput of the Azure plugin beside the Azure SDK alone, on one local Azurite.
//
//   pnpm --filter @argo-artifact-drivers/driver-azure bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Prints Save, Load and OpenStream of one file (1 GiB by default) through the
// plugin (its real entrypoint on a Unix socket, driven by the test client as
// Argo drives it) and the same transfers made directly with the SDK
// (uploadFile with the plugin's default block size and concurrency for Save,
// downloadToFile for Load, a streamed download for OpenStream), then the
// plugin's peak resident memory. Best of BENCH_ROUNDS rounds. The plugin also
// hashes every byte (MD5, stored on Save and checked on Load and OpenStream);
// the SDK does not.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PluginProcess, writeRandomFile } from "@argo-artifact-drivers/conformance";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { backendPaths, DEV_ACCOUNT, DEV_KEY, startAzurite } from "../test/backend.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_MIB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
const bytes = sizeMiB * MiB;
const containerName = "bench";
const BLOCK_SIZE = 8 * MiB;
const CONCURRENCY = 4;

const work = await mkdtemp(join(tmpdir(), "azure-bench-"));
// Two copies of the file live in Azurite's memory, plus blocks being staged.
const azurite = await startAzurite(backendPaths().azurite, {
  memoryLimitMiB: Math.max(2048, 4 * sizeMiB),
});
const source = join(work, "source.bin");
const target = join(work, "target.bin");
let plugin;
try {
  await writeRandomFile(source, bytes);
  const sdk = new BlobServiceClient(
    azurite.url,
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
  ).getContainerClient(containerName);
  await sdk.createIfNotExists();
  const directBlob = sdk.getBlockBlobClient("direct.bin");

  plugin = await PluginProcess.start(
    join(import.meta.dirname, "../dist/main.js"),
    join(work, "plugin.sock"),
    {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      BENCH_KEY: DEV_KEY,
      LOG_LEVEL: "warn",
      // e.g. --max-semi-space-size=1, to see the effect of V8 flags on peak RSS.
      NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
    },
  );
  const client = plugin.client(
    [
      `endpoint: ${azurite.url}`,
      `container: ${containerName}`,
      "accountKeySecret: {env: BENCH_KEY}",
      `blockSize: ${BLOCK_SIZE}`,
      `uploadConcurrency: ${CONCURRENCY}`,
    ].join("\n"),
    "azure",
  );

  const direct = {
    async Save() {
      await directBlob.uploadFile(source, { blockSize: BLOCK_SIZE, concurrency: CONCURRENCY });
    },
    async Load() {
      await directBlob.downloadToFile(target);
      await expectSize(target);
    },
    async OpenStream() {
      const response = await directBlob.download();
      let received = 0;
      for await (const chunk of response.readableStreamBody) received += chunk.length;
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

  console.log(
    `\nAzure driver on Azurite ${azurite.url}: ${sizeMiB} MiB, best of ${rounds} round(s), blocks of ${BLOCK_SIZE / MiB} MiB, ${CONCURRENCY} at once\n`,
  );
  console.log("operation    plugin MB/s   direct SDK MB/s   plugin/direct");
  for (const row of rows) {
    console.log(
      `${row.operation.padEnd(12)} ${row.plugin.toFixed(1).padStart(11)}   ${row.direct.toFixed(1).padStart(15)}   ${((100 * row.plugin) / row.direct).toFixed(0).padStart(12)}%`,
    );
  }
  console.log(`\nplugin peak RSS (VmHWM): ${(peak / MiB).toFixed(0)} MiB`);
} finally {
  await plugin?.stop();
  await azurite.stop();
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
