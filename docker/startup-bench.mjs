// Time from process start to a bound socket, on this machine's Node, for a
// driver unbundled (dist/main.js), bundled with code splitting (what the
// images ship), the same with a warm V8 compile cache (NODE_COMPILE_CACHE,
// filled by one run first) and bundled as one file. Runs alternate so machine
// load hits all variants alike; prints median and quartiles.
//
// usage: node docker/startup-bench.mjs [--runs 21] <driver>...
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: "string", default: "21" } },
});
const runs = Number(values.runs);

for (const name of positionals) {
  const single = join(repoRoot, "docker/.cache/bench", `${name}-single`);
  const split = join(repoRoot, "docker/.cache/bench", `${name}-split`);
  const bundle = join(repoRoot, "docker/bundle.mjs");
  execFileSync(process.execPath, [bundle, "--out", split, name], { stdio: "ignore" });
  execFileSync(process.execPath, [bundle, "--no-splitting", "--out", single, name], {
    stdio: "ignore",
  });
  const compileCache = join(repoRoot, "docker/.cache/bench", `${name}-compile-cache`);
  rmSync(compileCache, { recursive: true, force: true });
  await timeToSocket(join(split, "main.mjs"), { NODE_COMPILE_CACHE: compileCache });
  const variants = {
    "unbundled dist/main.js": join(repoRoot, "drivers", name, "dist/main.js"),
    "bundle, code splitting": join(split, "main.mjs"),
    "bundle + compile cache": [join(split, "main.mjs"), { NODE_COMPILE_CACHE: compileCache }],
    "bundle, one file": join(single, "main.mjs"),
    "node -e 0 (floor)": undefined,
  };
  const times = Object.fromEntries(Object.keys(variants).map((label) => [label, []]));
  for (let run = 0; run < runs; run++) {
    for (const [label, entry] of Object.entries(variants)) {
      times[label].push(await timeToSocket(...(Array.isArray(entry) ? entry : [entry])));
    }
  }
  console.log(`${name}: process start -> socket bound, ${runs} runs each (ms)`);
  for (const [label, samples] of Object.entries(times)) {
    samples.sort((a, b) => a - b);
    const at = (q) => samples[Math.floor(q * (samples.length - 1))].toFixed(0);
    console.log(`  ${label.padEnd(24)} median ${at(0.5)}  (q1 ${at(0.25)}, q3 ${at(0.75)})`);
  }
}

async function timeToSocket(entry, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "startup-bench-"));
  const socket = join(dir, "socket");
  const started = performance.now();
  const child = spawn(process.execPath, entry ? [entry, socket] : ["-e", "0"], {
    stdio: "ignore",
    env: { ...process.env, ...env },
  });
  const exited = new Promise((done) => child.on("exit", done));
  if (entry) {
    while (!existsSync(socket)) await new Promise((done) => setTimeout(done, 1));
  } else {
    await exited;
  }
  const elapsed = performance.now() - started;
  child.kill("SIGTERM");
  await exited;
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}
