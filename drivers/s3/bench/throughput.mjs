// Throughput of the S3 plugin beside the AWS SDK alone, on one local moto server.
//
//   pnpm --filter @argo-artifact-drivers/driver-s3 bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Save, Load and OpenStream of one file (1 GiB by default) through the plugin
// and the same transfers made directly with the SDK (lib-storage Upload for
// Save, a streamed GetObject for Load and OpenStream), then the plugin's peak
// resident memory; best of BENCH_ROUNDS rounds (the kit's benchmarkThroughput).
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { benchmarkThroughput } from "@argo-artifact-drivers/conformance";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { motoServerPath, startMoto } from "../test/moto.ts";

const MiB = 1024 * 1024;
const bucket = "bench";
const moto = await startMoto(motoServerPath());
try {
  const sdk = new S3Client({
    endpoint: moto.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "bench", secretAccessKey: "bench-secret" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  await sdk.send(new CreateBucketCommand({ Bucket: bucket }));
  const get = () => sdk.send(new GetObjectCommand({ Bucket: bucket, Key: "direct.bin" }));

  await benchmarkThroughput({
    title: `S3 driver on moto ${moto.endpoint}`,
    entrypoint: join(import.meta.dirname, "../dist/main.js"),
    env: {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      BENCH_KEY: "bench",
      BENCH_SECRET: "bench-secret",
      // e.g. --max-semi-space-size=1, to see the effect of V8 flags on peak RSS.
      NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
    },
    configuration: [
      `endpoint: ${moto.endpoint}`,
      `bucket: ${bucket}`,
      "accessKeySecret: {env: BENCH_KEY}",
      "secretKeySecret: {env: BENCH_SECRET}",
      // The default, 1, is one GET like the direct side; moto reads a whole
      // object for every ranged GET, so more ranges cost it O(size²).
      ...(process.env.BENCH_DOWNLOAD_CONCURRENCY
        ? [`downloadConcurrency: ${process.env.BENCH_DOWNLOAD_CONCURRENCY}`]
        : []),
    ].join("\n"),
    direct: {
      async Save(source) {
        await new Upload({
          client: sdk,
          params: { Bucket: bucket, Key: "direct.bin", Body: createReadStream(source) },
          partSize: 16 * MiB,
          queueSize: 4,
        }).done();
      },
      async Load(target) {
        await pipeline((await get()).Body, createWriteStream(target));
      },
      async OpenStream() {
        let received = 0;
        for await (const chunk of (await get()).Body) received += chunk.length;
        return received;
      },
    },
  });
} finally {
  await moto.stop();
}
