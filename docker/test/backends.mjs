// The backends the image tests run each driver's image against: a
// configuration whose backend is unreachable from the container, and a real
// server on the host's loopback for a Save/Load round trip. The servers come
// from the drivers' own test/setup-backend.sh.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { canConnect, freePort, run, stopProcess, waitFor } from "./util.mjs";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/**
 * A configuration per driver whose backend is unreachable from the container
 * (it has no network): the first call must load the driver's lazily imported
 * SDK chunk and fail with a connection error naming the target, which proves
 * the bundle's SDK part loads and runs. Drivers not listed get start-up checks.
 */
export const UNREACHABLE = {
  s3: {
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", TEST_KEY_ID: "id", TEST_SECRET: "secret" },
    config: [
      "endpoint: 127.0.0.1:9",
      "insecure: true",
      "bucket: image-test",
      "accessKeySecret: {env: TEST_KEY_ID}",
      "secretKeySecret: {env: TEST_SECRET}",
      "retry: {attempts: 1}",
    ].join("\n"),
    target: 'bucket "image-test" at http://127.0.0.1:9',
  },
  sftp: {
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", TEST_PASSWORD: "password" },
    config: [
      "host: 127.0.0.1",
      "port: 9",
      "username: tester",
      "passwordSecret: {env: TEST_PASSWORD}",
      "insecureIgnoreHostKey: true",
      "connectTimeoutSeconds: 5",
      "retry: {attempts: 1}",
    ].join("\n"),
    target: "sftp://tester@127.0.0.1:9",
  },
  webdav: {
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", TEST_USER: "tester", TEST_PASSWORD: "password" },
    config: [
      "url: http://127.0.0.1:9/dav/",
      "usernameSecret: {env: TEST_USER}",
      "passwordSecret: {env: TEST_PASSWORD}",
      "retry: {attempts: 1}",
    ].join("\n"),
    target: "WebDAV http://127.0.0.1:9/dav/",
  },
  gcs: {
    env: {},
    config: [
      "endpoint: http://127.0.0.1:9",
      "bucket: image-test",
      "anonymous: true",
      "retry: {attempts: 1}",
    ].join("\n"),
    target: "gs://image-test at http://127.0.0.1:9",
  },
  azure: {
    // Azurite's well-known development account key (public).
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", TEST_ACCOUNT_KEY: AZURITE_KEY },
    config: [
      "endpoint: http://127.0.0.1:9/devstoreaccount1",
      "container: image-test",
      "accountKeySecret: {env: TEST_ACCOUNT_KEY}",
      "retry: {attempts: 1}",
    ].join("\n"),
    target:
      'container "image-test" of account "devstoreaccount1" at http://127.0.0.1:9/devstoreaccount1',
  },
};

/**
 * A backend per driver for a Save/Load round trip through the image: the
 * bundled SDK doing real transfers. Servers listen on the host's loopback and
 * the plugin container shares the host's network (the executor container
 * still has none: it only talks to the socket). The servers come from the
 * drivers' own test/setup-backend.sh.
 */
export const ROUND_TRIP = {
  local: async () => ({ config: "root: /tmp", env: {}, hostNetwork: false, stop() {} }),
  s3: startMoto,
  sftp: startSshd,
  webdav: startRcloneWebdav,
  gcs: startFakeGcs,
  azure: startAzurite,
};

/** moto server from drivers/s3/test/setup-backend.sh, with one bucket. */
async function startMoto(work) {
  const setup = join(repoRoot, "drivers/s3/test/setup-backend.sh");
  const executable = (await run("bash", [setup])).stdout.trim().split("\n").at(-1);
  const port = await freePort();
  const server = spawn(executable, ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: "ignore",
    cwd: work,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(
    () =>
      fetch(endpoint).then(
        () => true,
        () => false,
      ),
    60_000,
    `moto_server on ${endpoint}`,
  );
  // moto checks no signatures: a plain PUT creates the bucket.
  const created = await fetch(`${endpoint}/image-test`, { method: "PUT" });
  assert.ok(created.ok, `creating the bucket on moto: HTTP ${created.status}`);
  return {
    config: [
      `endpoint: 127.0.0.1:${port}`,
      "insecure: true",
      "bucket: image-test",
      "accessKeySecret: {env: TEST_KEY_ID}",
      "secretKeySecret: {env: TEST_SECRET}",
    ].join("\n"),
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", TEST_KEY_ID: "id", TEST_SECRET: "secret" },
    hostNetwork: true,
    stop: () => stopProcess(server),
  };
}

/** Debian's sshd (drivers/sftp/test/setup-backend.sh) with a key for root and a pinned host key. */
async function startSshd(work) {
  await run("bash", [join(repoRoot, "drivers/sftp/test/setup-backend.sh")]);
  const dir = join(work, "sshd");
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true });
  mkdirSync("/run/sshd", { recursive: true });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );
  const server = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: "ignore" });
  await waitFor(() => canConnect({ host: "127.0.0.1", port }), 15_000, `sshd on port ${port}`);
  const fingerprint = (await run("ssh-keygen", ["-lf", join(dir, "host_key.pub")])).stdout.split(
    " ",
  )[1];
  return {
    config: [
      "host: 127.0.0.1",
      `port: ${port}`,
      "username: root",
      "privateKeySecret: {env: TEST_PRIVATE_KEY}",
      `hostKeyFingerprint: "${fingerprint}"`,
      `basePath: ${data}`,
    ].join("\n"),
    env: {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      TEST_PRIVATE_KEY: readFileSync(join(dir, "client_key"), "utf8"),
    },
    hostNetwork: true,
    stop: () => stopProcess(server),
  };
}

/** Debian's `rclone serve webdav` (drivers/webdav/test/setup-backend.sh) with basic authentication. */
async function startRcloneWebdav(work) {
  const setup = join(repoRoot, "drivers/webdav/test/setup-backend.sh");
  const lines = (await run("bash", [setup])).stdout.trim().split("\n");
  const rclone = lines.at(-2);
  const data = join(work, "webdav");
  mkdirSync(data, { recursive: true });
  const port = await freePort();
  const server = spawn(
    rclone,
    ["serve", "webdav", data, "--addr", `127.0.0.1:${port}`, "--user", "tester"].concat([
      "--pass",
      "webdav-test",
      "--config",
      "/dev/null",
    ]),
    { stdio: "ignore" },
  );
  await waitFor(() => canConnect({ host: "127.0.0.1", port }), 15_000, `rclone on port ${port}`);
  return {
    config: [
      `url: http://127.0.0.1:${port}/`,
      "usernameSecret: {env: TEST_USER}",
      "passwordSecret: {env: TEST_PASSWORD}",
    ].join("\n"),
    env: {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env",
      TEST_USER: "tester",
      TEST_PASSWORD: "webdav-test",
    },
    hostNetwork: true,
    stop: () => stopProcess(server),
  };
}

/** fake-gcs-server from drivers/gcs/test/setup-backend.sh, objects in memory, with one bucket. */
async function startFakeGcs() {
  const setup = join(repoRoot, "drivers/gcs/test/setup-backend.sh");
  const executable = (await run("bash", [setup])).stdout.trim().split("\n").at(-1);
  const port = await freePort();
  const server = spawn(
    executable,
    ["-scheme", "http", "-host", "127.0.0.1", "-port", String(port), "-backend", "memory"],
    { stdio: "ignore" },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(
    () =>
      fetch(`${endpoint}/_internal/healthcheck`).then(
        (response) => response.ok,
        () => false,
      ),
    30_000,
    `fake-gcs-server on ${endpoint}`,
  );
  // fake-gcs-server checks no credentials: the plugin goes anonymous too.
  const created = await fetch(`${endpoint}/storage/v1/b?project=image-test`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "image-test" }),
  });
  assert.ok(created.ok, `creating the bucket on fake-gcs-server: HTTP ${created.status}`);
  return {
    config: [`endpoint: ${endpoint}`, "bucket: image-test", "anonymous: true"].join("\n"),
    env: {},
    hostNetwork: true,
    stop: () => stopProcess(server),
  };
}

/** Azurite's blob service (drivers/azure/test/setup-backend.sh), in memory, with one container. */
async function startAzurite() {
  const setup = join(repoRoot, "drivers/azure/test/setup-backend.sh");
  const main = (await run("bash", [setup])).stdout.trim().split("\n").at(-1);
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [
      main,
      ...["--blobHost", "127.0.0.1", "--blobPort", String(port)],
      // --disableTelemetry: Azurite would otherwise send telemetry off the machine.
      ...["--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
    ],
    { stdio: "ignore", cwd: dirname(main) },
  );
  await waitFor(() => canConnect({ host: "127.0.0.1", port }), 30_000, `Azurite on port ${port}`);
  const endpoint = `http://127.0.0.1:${port}/devstoreaccount1`;
  try {
    // The SDK the driver bundles, from its package, to create the container.
    const sdk = createRequire(join(repoRoot, "drivers/azure/package.json"))("@azure/storage-blob");
    const credential = new sdk.StorageSharedKeyCredential("devstoreaccount1", AZURITE_KEY);
    await new sdk.BlobServiceClient(endpoint, credential).getContainerClient("image-test").create();
  } catch (error) {
    // A server left running would keep the test process alive.
    await stopProcess(server);
    throw error;
  }
  return {
    config: [
      `endpoint: ${endpoint}`,
      "container: image-test",
      "accountKeySecret: {env: TEST_ACCOUNT_KEY}",
    ].join("\n"),
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env", TEST_ACCOUNT_KEY: AZURITE_KEY },
    hostNetwork: true,
    stop: () => stopProcess(server),
  };
}
