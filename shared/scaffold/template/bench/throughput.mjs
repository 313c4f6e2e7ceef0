// Throughput of the __name__ plugin against the test backend (started as the
// tests start it): Save, Load and OpenStream of one large file, and Save and
// Load of a directory of many small files. Prints numbers, asserts nothing.
//   node bench/throughput.mjs [size MiB, default 256] [files, default 1000]
// BACKEND: add the SDK's own upload and download beside the plugin's numbers,
// so the README's table shows what the plugin costs.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PluginProcess, writeRandomFile, writeTree } from "@argo-artifact-drivers/conformance";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 256);
const fileCount = Number(process.argv[3] ?? 1000);
const here = import.meta.dirname;

const { default: setup } = await import(join(here, "../test/global-setup.ts"));
let backend;
const teardown = await setup({ provide: (_name, value) => (backend = value) });
const work = await mkdtemp(join(tmpdir(), "__name__-bench-"));

try {
  const big = join(work, "big.bin");
  await writeRandomFile(big, sizeMiB * MiB);
  const tree = join(work, "tree");
  await writeTree(tree, fileCount);

  const plugin = await PluginProcess.start(join(here, "../dist/main.js"), join(work, "socket"));
  const client = plugin.client(`root: ${backend.root}`);
  const save = await timed(() => client.save("bench/big.bin", big));
  const load = await timed(() => client.load("bench/big.bin", join(work, "loaded.bin")));
  const stream = await timed(async () => {
    for await (const _ of client.openStream("bench/big.bin")) {
      // drain
    }
  });
  const treeSave = await timed(() => client.save("bench/tree", tree));
  const treeLoad = await timed(() => client.load("bench/tree", join(work, "tree-loaded")));
  const peak = await plugin.peakRss();
  client.close();
  await plugin.stop();

  const rate = (ms) => `${((sizeMiB * MiB) / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(`__name__ plugin, ${sizeMiB} MiB file, test backend on loopback`);
  console.log(`  Save ${rate(save)}   Load ${rate(load)}   OpenStream ${rate(stream)}`);
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
