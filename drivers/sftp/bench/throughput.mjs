// Throughput of the SFTP plugin beside ssh2-sftp-client used directly, on a
// local OpenSSH sshd started here (as the tests start it).
//   node bench/throughput.mjs [size MiB, default 1024] [files, default 1000]
// Prints Save/Load/OpenStream MB/s through the plugin and directly, a directory
// round trip, and the plugin's peak RSS.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { PluginProcess } from "@argo-artifact-drivers/conformance";
import SftpClient from "ssh2-sftp-client";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 1024);
const fileCount = Number(process.argv[3] ?? 1000);
const here = import.meta.dirname;

const { default: setup } = await import(join(here, "../test/global-setup.ts"));
let sftp;
const teardown = await setup({ provide: (_name, value) => (sftp = value) });
const work = await mkdtemp(join(tmpdir(), "sftp-bench-"));

try {
  const big = join(work, "big.bin");
  await writeRandom(big, sizeMiB * MiB);
  const base = join(sftp.dataDir, "bench");
  const config = [
    `host: ${sftp.host}`,
    `port: ${sftp.port}`,
    `username: ${sftp.username}`,
    `passwordSecret: {file: ${sftp.files.password}}`,
    `hostKeyFingerprint: "${sftp.fingerprints.ed25519}"`,
    `basePath: ${base}`,
  ].join("\n");

  // ssh2-sftp-client directly, with the same TCP_NODELAY and parallel transfers.
  const direct = new SftpClient("bench");
  const sock = new Socket();
  sock.setNoDelay(true);
  sock.connect({ host: sftp.host, port: sftp.port });
  await direct.connect({
    sock,
    host: sftp.host,
    port: sftp.port,
    username: sftp.username,
    password: sftp.password,
  });
  await direct.mkdir(`${base}/direct`, true);
  const directPut = await timed(() => direct.fastPut(big, `${base}/direct/big.bin`));
  const directGet = await timed(() =>
    direct.fastGet(`${base}/direct/big.bin`, join(work, "direct-get.bin")),
  );
  await rm(join(work, "direct-get.bin"));
  const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
  const directStream = await timed(() => direct.get(`${base}/direct/big.bin`, sink()));
  await direct.end();

  await mkdir(join(work, "s"));
  const plugin = await PluginProcess.start(
    join(here, "../dist/main.js"),
    join(work, "s", "socket"),
    {
      ARTIFACT_DRIVER_SECRET_SOURCES: "file",
    },
  );
  const client = plugin.client(config);
  const save = await timed(() => client.save("plugin/big.bin", big));
  const load = await timed(() => client.load("plugin/big.bin", join(work, "loaded.bin")));
  await rm(join(work, "loaded.bin"));
  const stream = await timed(async () => {
    for await (const _ of client.openStream("plugin/big.bin")) {
      // drain
    }
  });

  const tree = join(work, "tree");
  await writeTree(tree, fileCount);
  const treeSave = await timed(() => client.save("plugin/tree", tree));
  const treeLoad = await timed(() => client.load("plugin/tree", join(work, "tree-loaded")));
  const peak = await plugin.peakRss();
  client.close();
  await plugin.stop();

  const bytes = sizeMiB * MiB;
  const rate = (ms) => (bytes / 1e6 / (ms / 1000)).toFixed(0);
  const pct = (plugin, direct) => `${Math.round((direct / plugin) * 100)}%`;
  console.log(`SFTP plugin vs ssh2-sftp-client, ${sizeMiB} MiB file, loopback OpenSSH sshd`);
  console.log(
    `  Save        plugin ${rate(save)} MB/s   direct fastPut ${rate(directPut)} MB/s   (${pct(save, directPut)})`,
  );
  console.log(
    `  Load        plugin ${rate(load)} MB/s   direct fastGet ${rate(directGet)} MB/s   (${pct(load, directGet)})`,
  );
  console.log(
    `  OpenStream  plugin ${rate(stream)} MB/s   direct get to a stream ${rate(directStream)} MB/s   (${pct(stream, directStream)})`,
  );
  console.log(
    `  Directory of ${fileCount} files: Save ${(treeSave / 1000).toFixed(2)} s, Load ${(treeLoad / 1000).toFixed(2)} s`,
  );
  console.log(`  Plugin peak RSS: ${Math.round(peak / MiB)} MiB`);
} finally {
  await rm(work, { recursive: true, force: true });
  await teardown();
}

async function timed(action) {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

async function writeRandom(path, bytes) {
  const out = createWriteStream(path);
  const block = randomBytes(4 * MiB);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block.subarray(0, Math.min(block.length, bytes - written)))) {
      await new Promise((resolve) => out.once("drain", resolve));
    }
  }
  await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())));
}

async function writeTree(root, count) {
  for (let index = 0; index < count; index++) {
    const folder = join(root, `d${index % 10}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, `f${index}.txt`), randomBytes(4096));
  }
}
