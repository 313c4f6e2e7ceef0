// Throughput of the WebDAV plugin beside the `webdav` client alone, on one
// local Apache httpd (mod_dav_fs, basic authentication), same run.
//
//   pnpm --filter @argo-artifact-drivers/driver-webdav bench
//   BENCH_MIB=256 BENCH_ROUNDS=3 node bench/throughput.mjs
//
// Save, Load and OpenStream of one file (1 GiB by default) through the plugin
// and the same transfers made directly with the `webdav` client
// (putFileContents of a file stream for Save, createReadStream into a file for
// Load and into nothing for OpenStream), then the plugin's peak resident
// memory; best of BENCH_ROUNDS rounds (the kit's benchmarkThroughput). Needs
// root (Apache runs as www-data, started by the tests' global setup).
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { benchmarkThroughput } from "@argo-artifact-drivers/conformance";
import { createClient } from "webdav";
import startServers from "../test/global-setup.ts";

const provided = {};
const stopServers = await startServers({ provide: (name, value) => (provided[name] = value) });
const { webdav: dav } = provided;
const url = `${dav.apache}/basic/`;
try {
  const direct = createClient(url, { username: dav.username, password: dav.password });
  await benchmarkThroughput({
    title: `WebDAV driver on Apache ${url}`,
    entrypoint: join(import.meta.dirname, "../dist/main.js"),
    env: {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      BENCH_USER: dav.username,
      BENCH_PASSWORD: dav.password,
      NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS ?? "",
    },
    configuration: [
      `url: ${url}`,
      "usernameSecret: {env: BENCH_USER}",
      "passwordSecret: {env: BENCH_PASSWORD}",
    ].join("\n"),
    direct: {
      async Save(source) {
        const stored = await direct.putFileContents("/direct.bin", createReadStream(source));
        if (!stored) throw new Error("putFileContents stored nothing");
      },
      async Load(target) {
        await pipeline(direct.createReadStream("/direct.bin"), createWriteStream(target));
      },
      async OpenStream() {
        let received = 0;
        for await (const chunk of direct.createReadStream("/direct.bin")) received += chunk.length;
        return received;
      },
    },
  });
} finally {
  await stopServers();
}
