// Throughput of the SFTP plugin beside ssh2-sftp-client used directly, on a
// local OpenSSH sshd started as the tests start it (needs root).
//
//   pnpm --filter @argo-artifact-drivers/driver-sftp bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 BENCH_FILES=1000 node bench/throughput.mjs
//
// Save, Load and OpenStream of one file (BENCH_MIB, default 1 GiB) through
// the plugin and with ssh2-sftp-client (fastPut, fastGet, get into a
// stream), interleaved in the same run, best of BENCH_ROUNDS; then a
// directory of BENCH_FILES 4 KiB files (default 1,000) saved, loaded and
// deleted through the plugin. Prints numbers, asserts only that bytes arrived.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { benchmarkThroughput, TestPlugin } from "@argo-artifact-drivers/conformance";
import SftpClient from "ssh2-sftp-client";
import setup from "../test/global-setup.ts";

const fileCount = Number(process.env.BENCH_FILES ?? 1000);
const entrypoint = join(import.meta.dirname, "../dist/main.js");

let sftp;
const teardown = await setup({ provide: (_name, value) => (sftp = value) });
const work = await mkdtemp(join(tmpdir(), "sftp-bench-"));
const direct = new SftpClient("bench");
try {
  const base = join(sftp.dataDir, "bench");
  const configuration = [
    `host: ${sftp.host}`,
    `port: ${sftp.port}`,
    `username: ${sftp.username}`,
    `passwordSecret: {file: ${sftp.files.password}}`,
    `hostKeyFingerprint: "${sftp.fingerprints.ed25519}"`,
    `basePath: ${base}`,
  ].join("\n");
  const env = { ARTIFACT_DRIVER_SECRET_SOURCES: "file" };

  // The same TCP_NODELAY socket and 16 requests of 128 KiB in flight as the plugin.
  const socket = new Socket();
  socket.setNoDelay(true);
  socket.connect({ host: sftp.host, port: sftp.port });
  await direct.connect({
    sock: socket,
    host: sftp.host,
    port: sftp.port,
    username: sftp.username,
    password: sftp.password,
  });
  await direct.mkdir(`${base}/direct`, true);
  const remote = `${base}/direct/file.bin`;
  const transfer = { concurrency: 16, chunkSize: 128 * 1024 };

  await benchmarkThroughput({
    title: `SFTP driver on OpenSSH sshd ${sftp.host}:${sftp.port}, beside ssh2-sftp-client`,
    entrypoint,
    configuration,
    env,
    direct: {
      Save: (source) => direct.fastPut(source, remote, transfer),
      Load: (target) => direct.fastGet(remote, target, transfer),
      async OpenStream() {
        let received = 0;
        await direct.get(
          remote,
          new Writable({
            write(chunk, _encoding, done) {
              received += chunk.length;
              done();
            },
          }),
        );
        return received;
      },
    },
  });

  const tree = join(work, "tree");
  for (let index = 0; index < fileCount; index++) {
    const folder = join(tree, `d${index % 10}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, `f${index}.txt`), randomBytes(4096));
  }
  const plugin = await TestPlugin.start(entrypoint, { env, pluginName: "sftp" });
  try {
    const client = plugin.client(configuration);
    const save = await timed(() => client.save("tree", tree));
    const load = await timed(() => client.load("tree", join(work, "tree-loaded")));
    const remove = await timed(() => client.delete("tree"));
    console.log(
      `directory of ${fileCount} files of 4 KiB: Save ${save} s, Load ${load} s, Delete ${remove} s`,
    );
  } finally {
    await plugin.stop();
  }
} finally {
  await direct.end().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
  await teardown();
}

async function timed(action) {
  const started = performance.now();
  await action();
  return ((performance.now() - started) / 1000).toFixed(2);
}
