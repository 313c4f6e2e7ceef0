// Two builds of the same commit give the same images: docker/build.sh runs
// again for one driver with --no-cache --lists (the runtime bases rebuilt from
// the verified downloads, no layer cache) under another tag, and every digest
// it records (the bundle's, each architecture's image ID, the manifest list's
// digest with its gzip-compressed layers) must equal the first build's. The
// second build reuses the first one's bundle (--reuse-bundles): in a working
// tree others edit, the code may change between the two; that the bundler
// gives the same bytes twice is checked on its own, seconds apart. Run by
// docker/test.sh.
//
// Environment: IMAGE_REPRODUCIBLE_DRIVER, DRIVER_TAG, IMAGE_PREFIX, CONTAINERS_CONF.
import assert from "node:assert/strict";
import { execFile as execFileCallback } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFile = promisify(execFileCallback);
const dockerDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const driver = required("IMAGE_REPRODUCIBLE_DRIVER");
const firstTag = required("DRIVER_TAG");
const imagePrefix = required("IMAGE_PREFIX");
const secondTag = `reproducible-${process.pid}`;

test(`a second build of ${driver} with --no-cache gives the same digests`, async () => {
  const firstLayout = join(dockerDir, ".cache/oci", `${firstTag}-${process.pid}`);
  let started = performance.now();
  try {
    // The first build's list, as a registry would hold it.
    const { stdout } = await execFile("bash", [join(dockerDir, "lists.sh"), firstLayout, driver], {
      env: { ...process.env, DRIVER_TAG: firstTag },
    });
    console.log(`list of the first build in ${seconds(started)} s`);
    const first = [...digests(firstTag).filter((line) => !line.includes(" list ")), stdout.trim()];
    assert.equal(first.length, 4, `expected a bundle, 2 images and a list: ${first.join("; ")}`);
    const index = JSON.parse(
      readFileSync(join(firstLayout, "blobs", ...listDigest(first).split(":")), "utf8"),
    );
    assert.deepEqual(
      index.manifests.map((entry) => `${entry.platform.os}/${entry.platform.architecture}`),
      ["linux/amd64", "linux/arm64"],
    );

    started = performance.now();
    await execFile(
      "bash",
      [join(dockerDir, "build.sh"), "--no-cache", "--lists", "--reuse-bundles", driver],
      {
        env: { ...process.env, DRIVER_TAG: secondTag },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const second = digests(secondTag);
    console.log(
      `second build (--no-cache --lists) in ${seconds(started)} s:\n${second.map((line) => `  ${line}`).join("\n")}`,
    );
    // A differing bundle line means the working tree changed between the
    // builds (someone edited the code), not that the build is irreproducible.
    assert.deepEqual(second, first);
  } finally {
    rmSync(firstLayout, { recursive: true, force: true });
    const tags = ["amd64", "arm64"].map((arch) => `${imagePrefix}/${driver}:${secondTag}-${arch}`);
    await execFile("podman", [
      "rmi",
      "--ignore",
      ...tags,
      `${imagePrefix}/${driver}:${secondTag}`,
    ]).catch(() => {});
    rmSync(join(dockerDir, ".cache/oci", secondTag), { recursive: true, force: true });
    rmSync(join(dockerDir, `.cache/digests-${secondTag}.txt`), { force: true });
  }
});

test(`bundling ${driver} twice gives the same bytes`, async () => {
  const outs = [1, 2].map((n) => join(dockerDir, ".cache", `bundle-twice-${process.pid}-${n}`));
  try {
    const hashes = [];
    for (const out of outs) {
      await execFile(process.execPath, [join(dockerDir, "bundle.mjs"), "--out", out, driver]);
      const { stdout } = await execFile("bash", [
        "-c",
        'cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum',
        "-",
        out,
      ]);
      hashes.push(stdout.trim());
    }
    assert.equal(hashes[1], hashes[0]);
  } finally {
    for (const out of outs) rmSync(out, { recursive: true, force: true });
  }
});

function listDigest(lines) {
  return lines.find((line) => line.includes(" list ")).split(" ")[2];
}

function seconds(since) {
  return ((performance.now() - since) / 1000).toFixed(1);
}

function digests(tag) {
  return readFileSync(join(dockerDir, `.cache/digests-${tag}.txt`), "utf8")
    .split("\n")
    .filter((line) => line.startsWith(`${driver} `));
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this through docker/test.sh`);
  return value;
}
