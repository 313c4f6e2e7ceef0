#!/usr/bin/env node
// Benchmarks of the core through the local reference driver (no network
// backend in the way): start-up time, OpenStream throughput and peak RSS for a
// large file, and Save/Load of a directory of many files. Prints numbers; it
// asserts nothing. Sizes can be changed with BENCH_FILE_MIB and BENCH_FILES.
//   node drivers/local/bench/throughput.mjs
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ArtifactClient } from "@argo-artifact-drivers/client";
import { writeRandomFile } from "@argo-artifact-drivers/conformance";

const entrypoint = join(import.meta.dirname, "../dist/main.js");
const fileMiB = Number(process.env.BENCH_FILE_MIB ?? 1024);
const fileCount = Number(process.env.BENCH_FILES ?? 10_000);
const work = await mkdtemp(join(tmpdir(), "bench-core-"));
const store = join(work, "store");
await mkdir(store);
const configuration = `root: ${store}`;

function start(socket) {
  const child = spawn(process.execPath, [entrypoint, socket], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  return child;
}

async function peakRss(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)[1]) * 1024;
}

function canConnect(socket) {
  return new Promise((resolve) => {
    const probe = connect(socket);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

async function stop(child) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  return exited;
}

const MB = 1e6;
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

try {
  // 1. Time from process start to a socket that accepts connections.
  const startups = [];
  for (let i = 0; i < 15; i++) {
    const socket = join(work, `startup-${i}.sock`);
    const begin = performance.now();
    const child = start(socket);
    while (!(await canConnect(socket))) await sleep(1);
    startups.push(performance.now() - begin);
    await stop(child);
  }
  const baseline = [];
  for (let i = 0; i < 15; i++) {
    const begin = performance.now();
    await new Promise((resolve) => spawn(process.execPath, ["-e", "0"]).once("exit", resolve));
    baseline.push(performance.now() - begin);
  }
  console.log(
    `start-up to accepting socket: median ${median(startups).toFixed(0)} ms over 15 runs (plain \`node -e 0\`: ${median(baseline).toFixed(0)} ms)`,
  );

  // 2. OpenStream throughput and the server's peak RSS for a large file.
  const big = join(store, "big.bin");
  await writeRandomFile(big, fileMiB * 1024 * 1024);
  {
    const socket = join(work, "stream.sock");
    const child = start(socket);
    while (!(await canConnect(socket))) await sleep(5);
    const client = new ArtifactClient(socket, { pluginName: "bench", configuration });
    const rssBefore = await peakRss(child.pid);
    const begin = performance.now();
    let bytes = 0;
    for await (const chunk of client.openStream("big.bin")) bytes += chunk.length;
    const seconds = (performance.now() - begin) / 1000;
    console.log(
      `OpenStream ${fileMiB} MiB: ${(bytes / MB / seconds).toFixed(0)} MB/s, server peak RSS ${((await peakRss(child.pid)) / 2 ** 20).toFixed(0)} MiB (${(rssBefore / 2 ** 20).toFixed(0)} MiB before)`,
    );
    const put = performance.now();
    const { createReadStream } = await import("node:fs");
    await client.saveStream(
      "big-copy.bin",
      createReadStream(big, { highWaterMark: 2 * 1024 * 1024 }),
    );
    const putSeconds = (performance.now() - put) / 1000;
    console.log(
      `SaveStream ${fileMiB} MiB: ${((fileMiB * 2 ** 20) / MB / putSeconds).toFixed(0)} MB/s, server peak RSS ${((await peakRss(child.pid)) / 2 ** 20).toFixed(0)} MiB`,
    );
    client.close();
    await stop(child);
  }

  // 3. Save and Load of a directory of many small files.
  const tree = join(work, "tree");
  for (let i = 0; i < fileCount; i++) {
    const folder = join(tree, `d${i % 100}`);
    if (i < 100) await mkdir(folder, { recursive: true });
    await writeFile(join(folder, `f${i}.txt`), `file ${i}\n`);
  }
  {
    const socket = join(work, "tree.sock");
    const child = start(socket);
    while (!(await canConnect(socket))) await sleep(5);
    const client = new ArtifactClient(socket, { pluginName: "bench", configuration });
    let begin = performance.now();
    await client.save("tree", tree);
    const saveSeconds = (performance.now() - begin) / 1000;
    begin = performance.now();
    await client.load("tree", join(work, "tree-loaded"));
    const loadSeconds = (performance.now() - begin) / 1000;
    console.log(
      `directory of ${fileCount} files: Save ${saveSeconds.toFixed(2)} s (${(fileCount / saveSeconds).toFixed(0)} files/s), Load ${loadSeconds.toFixed(2)} s (${(fileCount / loadSeconds).toFixed(0)} files/s), server peak RSS ${((await peakRss(child.pid)) / 2 ** 20).toFixed(0)} MiB`,
    );
    client.close();
    await stop(child);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
