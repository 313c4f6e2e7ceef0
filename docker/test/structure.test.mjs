// Structural checks of every driver's image for every architecture, without
// running it (so arm64 needs no emulation): the platform in the config, the
// machine of every ELF file, entrypoint, user, what the runtime base holds
// and lacks, and the sizes against the project's targets. Run by
// docker/test.sh after docker/build.sh.
//
// Environment: IMAGE_TEST_DRIVERS, IMAGE_TEST_PLATFORMS (space-separated),
// IMAGE_PREFIX, DRIVER_TAG, IMAGE_TEST_RESULTS, IMAGE_BASES ("<arch>=<image>"
// space-separated: each architecture's runtime base), IMAGE_BASE_LAYOUT (the
// OCI layout build.sh pushed the bases to, gzip-compressed), CONTAINERS_CONF.
import assert from "node:assert/strict";
import { execFile as execFileCallback } from "node:child_process";
import {
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";

const execFile = promisify(execFileCallback);
const drivers = required("IMAGE_TEST_DRIVERS").split(/\s+/).filter(Boolean);
const platforms = required("IMAGE_TEST_PLATFORMS").split(/\s+/).filter(Boolean);
const imagePrefix = required("IMAGE_PREFIX");
const driverTag = required("DRIVER_TAG");
const bases = Object.fromEntries(
  required("IMAGE_BASES")
    .split(/\s+/)
    .filter(Boolean)
    .map((entry) => entry.split("=")),
);
const baseLayout = required("IMAGE_BASE_LAYOUT");

/** The targets of the images issue, in bytes (decimal megabytes, as podman prints). */
const LIMITS = { uncompressed: 140e6, compressed: 50e6, ownLayers: 5e6 };
/** ELF e_machine of each platform. */
const MACHINE = { amd64: 0x3e, arm64: 0xb7 };
const sizes = {};

after(() => {
  const file = required("IMAGE_TEST_RESULTS");
  let results = {};
  try {
    results = JSON.parse(readFileSync(file, "utf8"));
  } catch {}
  writeFileSync(file, `${JSON.stringify({ ...results, sizes }, null, 2)}\n`);
});

for (const name of drivers) {
  for (const arch of platforms) {
    describe(`image ${imagePrefix}/${name}:${driverTag}-${arch}`, () => {
      const image = `${imagePrefix}/${name}:${driverTag}-${arch}`;

      test(`is linux/${arch}, runs node /app/main.mjs as 8737:8737 with no shell`, async () => {
        const [config] = JSON.parse(await podman(["image", "inspect", image]));
        assert.equal(config.Os, "linux");
        assert.equal(config.Architecture, arch);
        assert.equal(config.Config.User, "8737:8737");
        assert.deepEqual(config.Config.Entrypoint, ["node", "/app/main.mjs"]);
        assert.equal(config.Config.Cmd ?? null, null);
        assert.equal(config.Config.WorkingDir, "/tmp");
        assert.equal(config.Labels["io.argo-artifact-drivers.driver"], name);
      });

      test("every ELF file is built for the image's architecture; the base holds only what Node needs", async () => {
        const root = (await podman(["image", "mount", image])).trim();
        try {
          const elves = [];
          for (const file of walk(root)) {
            const machine = elfMachine(file);
            if (machine !== undefined) elves.push([file.slice(root.length), machine]);
          }
          const wrong = elves.filter(([, machine]) => machine !== MACHINE[arch]);
          assert.deepEqual(wrong, [], `ELF files for another machine than ${arch}`);
          const names = elves.map(([file]) => file);
          assert.ok(names.includes("/usr/local/bin/node"), "no /usr/local/bin/node");
          assert.ok(
            names.some((file) => /\/libc\.so\.6$/.test(file)),
            "no libc.so.6",
          );
          assert.ok(
            names.some((file) => /\/libstdc\+\+\.so\.6/.test(file)),
            "no libstdc++",
          );
          for (const absent of [
            "/bin/sh",
            "/usr/bin/sh",
            "/bin/bash",
            "/usr/bin/apt",
            "/usr/bin/dpkg",
          ]) {
            assert.throws(
              () => lstatSync(join(root, absent)),
              undefined,
              `${absent} is in the image`,
            );
          }
          assert.equal(lstatSync(join(root, "tmp")).mode & 0o7777, 0o1777, "/tmp is not mode 1777");
          assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^argo:x:8737:8737:/m);
          assert.match(readFileSync(join(root, "etc/group"), "utf8"), /^argo:x:8737:/m);
          const bundle = readFileSync(join(root, "etc/ssl/certs/ca-certificates.crt"), "utf8");
          assert.ok(
            (bundle.match(/BEGIN CERTIFICATE/g) ?? []).length > 100,
            "the CA bundle is short",
          );
          assert.ok(
            lstatSync(join(root, "usr/share/zoneinfo/Europe/Paris")).isFile(),
            "no time zones",
          );
          assert.ok(lstatSync(join(root, "app/main.mjs")).isFile(), "no /app/main.mjs");
        } finally {
          await podman(["image", "unmount", image]);
        }
      });

      test(`size: <= ${LIMITS.uncompressed / 1e6} MB, <= ${LIMITS.compressed / 1e6} MB gzip-compressed, own layers < ${LIMITS.ownLayers / 1e6} MB`, async () => {
        const [config] = JSON.parse(await podman(["image", "inspect", image]));
        const [base] = JSON.parse(await podman(["image", "inspect", bases[arch]]));
        // Two layers: the runtime base, shared by every driver's image (so
        // pulled once), and the project's own, the bundle.
        assert.equal(config.RootFS.Layers.length, 2, "expected the base's layer and the bundle's");
        assert.equal(config.RootFS.Layers[0], base.RootFS.Layers[0], `not FROM ${bases[arch]}`);
        const uncompressed = config.Size;
        const baseCompressed = baseLayerCompressedSize(bases[arch]);
        // The bundle's layer compressed as a registry would (gzip of its tar).
        const root = (await podman(["image", "mount", image])).trim();
        let own;
        try {
          const { stdout } = await execFile("bash", [
            "-c",
            'tar --sort=name --owner=0 --group=0 --numeric-owner -C "$1" -c app | gzip -6 | wc -c',
            "-",
            root,
          ]);
          own = Number(stdout.trim());
        } finally {
          await podman(["image", "unmount", image]);
        }
        const compressed = baseCompressed + own;
        sizes[`${name} ${arch}`] = { uncompressed, compressed, base: baseCompressed, own };
        assert.ok(uncompressed <= LIMITS.uncompressed, `${mb(uncompressed)} uncompressed`);
        assert.ok(compressed <= LIMITS.compressed, `${mb(compressed)} compressed`);
        assert.ok(own < LIMITS.ownLayers, `the project's own layer is ${mb(own)} compressed`);
      });
    });
  }
}

function baseLayerCompressedSize(image) {
  const ref = image.slice(image.lastIndexOf(":") + 1);
  const top = JSON.parse(readFileSync(join(baseLayout, "index.json"), "utf8"));
  const entry = top.manifests.find(
    (manifest) => manifest.annotations?.["org.opencontainers.image.ref.name"] === ref,
  );
  assert.ok(entry, `no ${ref} in ${baseLayout}/index.json; run docker/build.sh --no-cache`);
  const manifest = blob(entry.digest);
  assert.equal(manifest.layers.length, 1);
  return manifest.layers[0].size;
}

function blob(digest) {
  return JSON.parse(readFileSync(join(baseLayout, "blobs", ...digest.split(":")), "utf8"));
}
function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

/** e_machine of an ELF file, or undefined for any other file. */
function elfMachine(file) {
  const header = Buffer.alloc(20);
  const fd = openSync(file, "r");
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
}

function mb(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run this through docker/test.sh`);
  return value;
}

async function podman(args) {
  const { stdout } = await execFile("podman", args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
