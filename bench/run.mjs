#!/usr/bin/env node
// Benchmarks the built drivers as Argo's users meet them, beside a Go
// baseline on the same backend (README.md in this folder).
//
//   node bench/run.mjs [--drivers s3,local] [--mib 1024] [--rounds 3] [--startups 5] [--concurrent 64]
//                      [--entry image|dist] [--record <folder for the JSON record>]
//                      [--go-sample <checkout of argoproj-labs/artifact-plugin-s3>]
//   node bench/run.mjs --drivers s3 --startups 1 --node-options="--cpu-prof --cpu-prof-dir=/tmp/prof"
//
// Writes bench/results/<time>.json and prints a table. Asserts nothing.
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";

const repo = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    drivers: { type: "string", default: "s3,local" },
    mib: { type: "string", default: "1024" },
    rounds: { type: "string", default: "3" },
    startups: { type: "string", default: "5" },
    concurrent: { type: "string", default: "64" },
    "node-options": { type: "string", default: "" },
    entry: { type: "string", default: "image" },
    record: { type: "string", default: join(repo, "bench/results") },
    // S3 only: Argo's Go sample plugin as a third column (README.md in this folder).
    "go-sample": { type: "string", default: "" },
  },
});
const MiB = 1024 * 1024;

/** Per driver: start its backend, return the plugin's configuration and the Go baseline's coordinates. */
const backends = {
  async s3() {
    const { motoServerPath, startMoto } = await import(join(repo, "drivers/s3/test/moto.ts"));
    const moto = await startMoto(motoServerPath());
    return {
      env: {
        ARTIFACT_DRIVER_SECRET_SOURCES: "env",
        BENCH_KEY: "bench",
        BENCH_SECRET: "bench-secret",
      },
      configuration: [
        `endpoint: ${moto.endpoint}`,
        "bucket: bench",
        "accessKeySecret: {env: BENCH_KEY}",
        "secretKeySecret: {env: BENCH_SECRET}",
      ].join("\n"),
      baseline: {
        endpoint: moto.endpoint,
        bucket: "bench",
        accessKey: "bench",
        secretKey: "bench-secret",
      },
      // Argo's Go sample plugin: its configuration is Argo's S3Bucket in YAML.
      // Its keys come from secrets read from the cluster, or with useSDKCreds
      // from the AWS SDK's chain (these env variables). The region spares it
      // a bucket-location request per client (it makes a client per call).
      sample: {
        env: { AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench-secret" },
        configuration: [
          `endpoint: ${new URL(moto.endpoint).host}`,
          "bucket: bench",
          "region: us-east-1",
          `insecure: ${new URL(moto.endpoint).protocol === "http:"}`,
          "useSDKCreds: true",
        ].join("\n"),
      },
      stop: () => moto.stop(),
    };
  },
  async webdav() {
    // The tests' global setup: Apache httpd with mod_dav_fs (needs root: it runs as www-data).
    const { default: startServers } = await import(
      join(repo, "drivers/webdav/test/global-setup.ts")
    );
    const provided = {};
    const stop = await startServers({ provide: (name, value) => (provided[name] = value) });
    const { apache, username, password } = provided.webdav;
    const url = `${apache}/basic/`;
    return {
      env: {
        ARTIFACT_DRIVER_SECRET_SOURCES: "env",
        BENCH_USER: username,
        BENCH_PASSWORD: password,
      },
      configuration: [
        `url: ${url}`,
        "usernameSecret: {env: BENCH_USER}",
        "passwordSecret: {env: BENCH_PASSWORD}",
      ].join("\n"),
      baseline: { url, username, password },
      stop,
    };
  },
  async sftp() {
    // The tests' global setup: OpenSSH's sshd on loopback with a test user (needs root).
    const { default: startServer } = await import(join(repo, "drivers/sftp/test/global-setup.ts"));
    const provided = {};
    const stop = await startServer({ provide: (name, value) => (provided[name] = value) });
    const { host, port, username, password, dataDir, fingerprints } = provided.sftp;
    return {
      env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", BENCH_PASSWORD: password },
      configuration: [
        `host: ${host}`,
        `port: ${port}`,
        `username: ${username}`,
        "passwordSecret: {env: BENCH_PASSWORD}",
        `basePath: ${dataDir}`,
        `hostKeyFingerprint: "${fingerprints.ed25519}"`,
      ].join("\n"),
      baseline: { host, port, username, password, base: dataDir },
      stop,
    };
  },
  async azure() {
    const { backendPaths, DEV_ACCOUNT, DEV_KEY, startAzurite } = await import(
      join(repo, "drivers/azure/test/backend.ts")
    );
    // Azurite keeps blobs in memory: the object, and blocks being staged.
    const azurite = await startAzurite(backendPaths().azurite, {
      memoryLimitMiB: Math.max(2048, 3 * Number(values.mib)),
    });
    return {
      env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", BENCH_KEY: DEV_KEY },
      configuration: [
        `endpoint: ${azurite.url}`,
        "container: bench",
        "accountKeySecret: {env: BENCH_KEY}",
      ].join("\n"),
      baseline: { endpoint: azurite.url, account: DEV_ACCOUNT, key: DEV_KEY, container: "bench" },
      stop: () => azurite.stop(),
    };
  },
  async gcs() {
    const { createBucket, fakeGcsServerPath, startFakeGcs } = await import(
      join(repo, "drivers/gcs/test/backend.ts")
    );
    const emulator = await startFakeGcs(fakeGcsServerPath());
    await createBucket(emulator.endpoint, "bench");
    return {
      env: {},
      configuration: [`endpoint: ${emulator.endpoint}`, "bucket: bench", "anonymous: true"].join(
        "\n",
      ),
      baseline: { endpoint: emulator.endpoint, bucket: "bench" },
      stop: () => emulator.stop(),
    };
  },
  async local() {
    const root = mkdtempSync(join(tmpdir(), "bench-local-"));
    return {
      env: {},
      configuration: `root: ${root}`,
      baseline: { root },
      stop: async () => rmSync(root, { recursive: true, force: true }),
    };
  },
};

/**
 * How the plugin is started. `image` (the default) runs what the driver's
 * image runs: its bundle (docker/bundle.mjs), with the ENTRYPOINT's Node flags
 * and the ENV of its Dockerfile. `dist` runs the unbundled build.
 */
function pluginCommand(driver) {
  if (values.entry === "dist") {
    return { command: ["node", join(repo, "drivers", driver, "dist/main.js")], env: {} };
  }
  if (values.entry !== "image")
    throw new Error(`--entry must be image or dist, not "${values.entry}"`);
  const bundle = join(repo, "docker/.cache/bundles", driver);
  const dockerfile = readFileSync(join(repo, "drivers", driver, "Dockerfile"), "utf8");
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? "null");
  if (!Array.isArray(entrypoint))
    throw new Error(`drivers/${driver}/Dockerfile has no exec-form ENTRYPOINT`);
  const env = {};
  // ENV lines as the Dockerfile writes them: KEY=value pairs, continued with backslashes.
  for (const [, block] of dockerfile.matchAll(/^ENV ((?:.*\\\n)*.*)$/gm)) {
    for (const [, name, value] of block.matchAll(/([A-Z_][A-Z0-9_]*)=(\S*)/g)) env[name] = value;
  }
  // PATH points into the image; the host's Node stays on the host's PATH.
  delete env.PATH;
  return {
    command: entrypoint.map((part) => part.replace(/^\/app\//, `${bundle}/`)),
    env,
  };
}

if (values.entry === "image") {
  execFileSync("node", [join(repo, "docker/bundle.mjs"), ...values.drivers.split(",")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
}

const binary = join(repo, "bench/.bin/bench");
execFileSync("go", ["build", "-o", binary, "."], { cwd: join(repo, "bench/go"), stdio: "inherit" });

/** The Go sample plugin's binary, built outside the repository, or null with the reason printed. */
function goSamplePlugin() {
  if (!values["go-sample"]) {
    process.stderr.write(
      "bench: s3: no Go sample plugin column: the Go module proxy does not serve argoproj-labs/artifact-plugin-s3; " +
        "pass --go-sample <a checkout of it> to add it\n",
    );
    return null;
  }
  const out = execFileSync("bash", [join(repo, "bench/go-sample-plugin.sh"), values["go-sample"]], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").at(-1);
}
const sampleBinary = values.drivers.split(",").includes("s3") ? goSamplePlugin() : null;

const records = [];
for (const driver of values.drivers.split(",")) {
  const start = backends[driver];
  if (!start)
    throw new Error(`no benchmark backend for driver "${driver}"; known: ${Object.keys(backends)}`);
  const backend = await start();
  const work = mkdtempSync(join(tmpdir(), "bench-spec-"));
  try {
    const spec = join(work, "spec.json");
    const plugin = pluginCommand(driver);
    writeFileSync(
      spec,
      JSON.stringify({
        driver,
        command: plugin.command,
        // --node-options (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reaches the plugin only.
        env: {
          ...plugin.env,
          LOG_LEVEL: "warn",
          NODE_OPTIONS: values["node-options"],
          ...backend.env,
        },
        configuration: backend.configuration,
        sizeBytes: Number(values.mib) * MiB,
        rounds: Number(values.rounds),
        startups: Number(values.startups),
        concurrent: Number(values.concurrent),
        concurrentBytes: 8 * MiB,
        baseline: backend.baseline,
        sample:
          backend.sample && sampleBinary
            ? {
                command: [sampleBinary],
                env: backend.sample.env,
                configuration: backend.sample.configuration,
              }
            : undefined,
      }),
    );
    process.stderr.write(`bench: ${driver}, ${values.mib} MiB, ${values.rounds} rounds...\n`);
    // Not execFileSync: the backends' logs are read by this process's event
    // loop, and a backend blocked on a full log pipe (moto) stalls the run.
    const harness = promisify(execFile)(binary, ["-spec", spec], {
      encoding: "utf8",
      maxBuffer: 64 * MiB,
    });
    harness.child.stderr.pipe(process.stderr);
    records.push(JSON.parse((await harness).stdout));
  } finally {
    rmSync(work, { recursive: true, force: true });
    await backend.stop();
  }
}

const results = values.record;
mkdirSync(results, { recursive: true });
const file = join(results, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ node: process.version, args: values, records }, null, 2)}\n`,
);
for (const record of records) console.log(table(record));
console.log(`\nrecord: ${file}`);

function table(r) {
  if (r.sample) return sampleTable(r);
  const m = r.median;
  const f = (n, d = 0) => n.toFixed(d);
  const row = (what, plugin, direct) =>
    `| ${what} | ${plugin} | ${direct} | ${direct ? (Number.parseFloat(plugin) / Number.parseFloat(direct)).toFixed(2) : ""} |`;
  return [
    `\n${r.driver}: ${r.sizeBytes / MiB} MiB, median of ${r.rounds} rounds (plugin as ${values.entry === "image" ? "its image runs it" : "dist/main.js"}, through Argo's Go client; direct: the Go library)`,
    "| figure | plugin | Go direct | ratio |",
    "|---|---|---|---|",
    row("Load MB/s", f(m["plugin Load"].mbps), f(m["direct Load"].mbps)),
    row(
      "OpenStream MB/s (grpc-go reader)",
      f(m["plugin OpenStream"].mbps),
      f(m["direct read"].mbps),
    ),
    row("CPU s/GiB, Load", f(m["plugin Load"].cpuPerGiB, 2), f(m["direct Load"].cpuPerGiB, 2)),
    row(
      "CPU s/GiB, OpenStream",
      f(m["plugin OpenStream"].cpuPerGiB, 2),
      f(m["direct read"].cpuPerGiB, 2),
    ),
    row("Save MB/s", f(m["plugin Save"].mbps), f(m["direct Save"].mbps)),
    `| peak RSS MiB, Load / OpenStream / Save | ${f(m["plugin Load"].peakRssMiB)} / ${f(m["plugin OpenStream"].peakRssMiB)} / ${f(m["plugin Save"].peakRssMiB)} | | |`,
    `| start -> socket accepts, ms | ${f(r.startupMs.toSocket, 1)} | | |`,
    `| start -> first IsDirectory answered, ms | ${f(r.startupMs.toFirstCall, 1)} | | |`,
    r.concurrent
      ? `| peak RSS MiB, ${r.concurrent.streams} concurrent OpenStreams of ${r.concurrent.objectMiB} MiB | ${f(r.concurrent.peakRssMiB)} | | |`
      : "",
    `| long-lived process: peak / final RSS MiB | ${f(r.longLived.peakRssMiB)} / ${f(r.longLived.rssMiB)} | | |`,
  ].join("\n");
}

/** The table with Argo's Go sample plugin beside the plugin and the Go library. */
function sampleTable(r) {
  const m = r.median;
  const s = r.sample;
  const f = (n, d = 0) => (n === undefined ? "" : n.toFixed(d));
  const ratio = (a, b) => (a && b ? (Number.parseFloat(a) / Number.parseFloat(b)).toFixed(2) : "");
  const row = (what, plugin, sample, direct = "") =>
    `| ${what} | ${plugin} | ${sample} | ${direct} | ${ratio(plugin, sample)} | ${ratio(plugin, direct)} |`;
  const op = (name, figure, d = 0) => [
    f(m[`plugin ${name}`][figure], d),
    f(m[`sample ${name}`][figure], d),
  ];
  const rss = (name) => op(name, "peakRssMiB");
  return [
    `\n${r.driver}: ${r.sizeBytes / MiB} MiB, median of ${r.rounds} rounds (plugin as ${values.entry === "image" ? "its image runs it" : "dist/main.js"}; Go sample plugin: argoproj-labs/artifact-plugin-s3; both through Argo's Go client; direct: the Go library)`,
    "| figure | plugin | Go sample plugin | Go direct | plugin / sample | plugin / direct |",
    "|---|---|---|---|---|---|",
    row("Load MB/s", ...op("Load", "mbps"), f(m["direct Load"].mbps)),
    row("OpenStream MB/s (grpc-go reader)", ...op("OpenStream", "mbps"), f(m["direct read"].mbps)),
    row("CPU s/GiB, Load", ...op("Load", "cpuPerGiB", 2), f(m["direct Load"].cpuPerGiB, 2)),
    row(
      "CPU s/GiB, OpenStream",
      ...op("OpenStream", "cpuPerGiB", 2),
      f(m["direct read"].cpuPerGiB, 2),
    ),
    row("Save MB/s", ...op("Save", "mbps"), f(m["direct Save"].mbps)),
    row("peak RSS MiB, Load", ...rss("Load")),
    row("peak RSS MiB, OpenStream", ...rss("OpenStream")),
    row("peak RSS MiB, Save", ...rss("Save")),
    row("start -> socket accepts, ms", f(r.startupMs.toSocket, 1), f(s.startupMs.toSocket, 1)),
    row(
      "start -> first IsDirectory answered, ms",
      f(r.startupMs.toFirstCall, 1),
      f(s.startupMs.toFirstCall, 1),
    ),
    r.concurrent
      ? row(
          `peak RSS MiB, ${r.concurrent.streams} concurrent OpenStreams of ${r.concurrent.objectMiB} MiB`,
          f(r.concurrent.peakRssMiB),
          f(s.concurrent?.peakRssMiB),
        )
      : "",
    row("long-lived process: peak RSS MiB", f(r.longLived.peakRssMiB), f(s.longLived.peakRssMiB)),
    row("long-lived process: final RSS MiB", f(r.longLived.rssMiB), f(s.longLived.rssMiB)),
    "Ratios are the plugin's figure over the other's: above 1 is ahead for MB/s, below 1 for CPU, RSS and times.",
  ]
    .filter(Boolean)
    .join("\n");
}
