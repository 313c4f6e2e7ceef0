// Throughput of the Azure plugin beside the Azure SDK alone, on one local Azurite.
//
//   pnpm --filter @argo-artifact-drivers/driver-azure bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Save, Load and OpenStream of one file (1 GiB by default) through the plugin
// and the same transfers made directly with the SDK (uploadFile with the
// plugin's block size and concurrency for Save, downloadToFile for Load, a
// streamed download for OpenStream), then the plugin's peak resident memory;
// best of BENCH_ROUNDS rounds (the kit's benchmarkThroughput). The plugin also
// hashes every byte (MD5, stored on Save and checked on Load and OpenStream);
// the SDK does not.
import { join } from "node:path";
import { benchmarkThroughput } from "@argo-artifact-drivers/conformance";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { backendPaths, DEV_ACCOUNT, DEV_KEY, startAzurite } from "../test/backend.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_MIB ?? 1024);
const containerName = "bench";
const BLOCK_SIZE = 8 * MiB;
const CONCURRENCY = 4;

// Two copies of the file live in Azurite's memory, plus blocks being staged.
const azurite = await startAzurite(backendPaths().azurite, {
  memoryLimitMiB: Math.max(2048, 4 * sizeMiB),
});
try {
  const sdk = new BlobServiceClient(
    azurite.url,
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
  ).getContainerClient(containerName);
  await sdk.createIfNotExists();
  const directBlob = sdk.getBlockBlobClient("direct.bin");

  await benchmarkThroughput({
    title: `Azure driver on Azurite ${azurite.url}, blocks of ${BLOCK_SIZE / MiB} MiB, ${CONCURRENCY} at once`,
    entrypoint: join(import.meta.dirname, "../dist/main.js"),
    env: {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      BENCH_KEY: DEV_KEY,
      // e.g. --max-semi-space-size=1, to see the effect of V8 flags on peak RSS.
      NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
    },
    configuration: [
      `endpoint: ${azurite.url}`,
      `container: ${containerName}`,
      "accountKeySecret: {env: BENCH_KEY}",
      `blockSize: ${BLOCK_SIZE}`,
      `uploadConcurrency: ${CONCURRENCY}`,
    ].join("\n"),
    direct: {
      async Save(source) {
        await directBlob.uploadFile(source, { blockSize: BLOCK_SIZE, concurrency: CONCURRENCY });
      },
      async Load(target) {
        await directBlob.downloadToFile(target);
      },
      async OpenStream() {
        const response = await directBlob.download();
        let received = 0;
        for await (const chunk of response.readableStreamBody) received += chunk.length;
        return received;
      },
    },
  });
} finally {
  await azurite.stop();
}
