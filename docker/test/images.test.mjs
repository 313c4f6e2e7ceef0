// Black-box tests of the driver images, run the way Argo runs them: the
// plugin container gets the socket path as its only argument and shares the
// socket folder (an emptyDir in a pod) with an executor container that runs
// as another uid. Run by docker/test.sh after docker/build.sh.
//
// Environment: IMAGE_TEST_DRIVERS (space-separated), NODE_IMAGE, IMAGE_PREFIX,
// DRIVER_TAG, IMAGE_TEST_RESULTS (JSON file for the summary), CONTAINERS_CONF.
import assert from "node:assert/strict";
import { execFile as execFileCallback, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { connect, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFile = promisify(execFileCallback);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const clientMain = join(repoRoot, "shared/client/dist/main.js");

const PLUGIN_UID = 8737;
/** The executor container's uid in these tests: neither root nor the plugin's. */
const EXECUTOR_UID = 4321;
const drivers = required("IMAGE_TEST_DRIVERS").split(/\s+/).filter(Boolean);
const nodeImage = required("NODE_IMAGE");
const imagePrefix = required("IMAGE_PREFIX");
const driverTag = required("DRIVER_TAG");
const results = { drivers: {} };

const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/**
 * A configuration per driver whose backend is unreachable from the container
 * (it has no network): the first call must load the driver's lazily imported
 * SDK chunk and fail with a connection error naming the target, which proves
 * the bundle's SDK part loads and runs. Drivers not listed get start-up checks.
 */
const UNREACHABLE = {
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
const ROUND_TRIP = {
  local: async () => ({ config: "root: /tmp", env: {}, hostNetwork: false, stop() {} }),
  s3: startMoto,
  sftp: startSshd,
  webdav: startRcloneWebdav,
  gcs: startFakeGcs,
  azure: startAzurite,
};

after(() => {
  writeFileSync(required("IMAGE_TEST_RESULTS"), `${JSON.stringify(results, null, 2)}\n`);
});

test("every driver's Dockerfile is the same file", () => {
  const files = drivers.map((name) => readFileSync(join(repoRoot, "drivers", name, "Dockerfile")));
  for (const [index, file] of files.entries()) {
    assert.ok(
      file.equals(files[0]),
      `drivers/${drivers[index]}/Dockerfile differs from drivers/${drivers[0]}/Dockerfile`,
    );
  }
});

for (const name of drivers) {
  describe(`image ${imagePrefix}/${name}:${driverTag}`, () => {
    const image = `${imagePrefix}/${name}:${driverTag}`;
    const container = `argo-driver-image-test-${name}-${process.pid}`;
    const numbers = {};
    results.drivers[name] = numbers;
    // What a pod shares: the socket folder (emptyDir) and, for Save/Load, the
    // artifact folder, mounted at the same path in both containers.
    const work = mkdtempSync(`/tmp/argo-driver-image-test-${name}-`);
    const socketDir = join(work, "plugins", name);
    const shared = join(work, "shared");
    const socketInContainer = `/tmp/artifact-plugins/${name}/socket`;
    const socketOnHost = join(socketDir, "socket");
    const unreachable = UNREACHABLE[name];
    let backend;

    before(async () => {
      chmodSync(work, 0o755);
      mkdirSync(socketDir, { recursive: true });
      chmodSync(join(work, "plugins"), 0o755);
      chownSync(socketDir, PLUGIN_UID, PLUGIN_UID);
      mkdirSync(shared);
      chmodSync(shared, 0o777);
      await podman(["rm", "--force", "--ignore", container]);

      backend = await ROUND_TRIP[name]?.(work);
      const env = Object.entries({ ...unreachable?.env, ...backend?.env }).flatMap(
        ([key, value]) => ["--env", `${key}=${value}`],
      );
      const started = performance.now();
      const run = podman([
        "run",
        "--detach",
        `--name=${container}`,
        backend?.hostNetwork ? "--network=host" : "--network=none",
        ...env,
        "--volume",
        `${socketDir}:/tmp/artifact-plugins/${name}`,
        "--volume",
        `${shared}:${shared}`,
        image,
        socketInContainer,
      ]);
      await waitFor(() => existsSync(socketOnHost), 15_000, `${socketOnHost} to appear`);
      numbers.runToSocketMs = Math.round(performance.now() - started);
      await waitFor(() => canConnect(socketOnHost), 5_000, `${socketOnHost} to accept`);
      numbers.runToConnectableMs = Math.round(performance.now() - started);
      await run;
    });

    after(async () => {
      await podman(["rm", "--force", "--ignore", container]).catch(() => {});
      await backend?.stop();
      rmSync(work, { recursive: true, force: true });
    });

    test("binds its socket soon after podman run, and says so in its log", async () => {
      // The line is written just after binding and reaches podman's log file a little later.
      let serving;
      await waitFor(
        async () => {
          serving = (await logLines(container)).find(
            (line) => line.msg === "serving ArtifactService",
          );
          return serving !== undefined;
        },
        5_000,
        "the 'serving ArtifactService' log line",
      );
      assert.equal(serving.socket, socketInContainer);
      numbers.bindInProcessMs = serving.startupMs;
      const startedAt = await podman([
        "inspect",
        "--format",
        '{{.State.StartedAt.Format "2006-01-02T15:04:05.000Z07:00"}}',
        container,
      ]);
      numbers.containerStartToServingMs = Date.parse(serving.time) - Date.parse(startedAt.trim());
      // Argo polls once a second; a socket within the first poll costs nothing.
      assert.ok(numbers.runToSocketMs < 10_000, `socket after ${numbers.runToSocketMs} ms`);
    });

    test("starts with no warnings (reflection and every start-up path work bundled)", async () => {
      // Reflection is set up just after binding; give it a moment.
      await new Promise((done) => setTimeout(done, 300));
      const problems = (await logLines(container)).filter((line) =>
        ["warn", "error", "fatal"].includes(line.level),
      );
      assert.deepEqual(problems, []);
    });

    test("answers gRPC reflection (grpcurl list) with artifact.ArtifactService", async () => {
      assert.ok((await listServices(socketOnHost)).includes("artifact.ArtifactService"));
    });

    test(`runs as uid ${PLUGIN_UID}, not root`, async () => {
      const pid = (await podman(["inspect", "--format", "{{.State.Pid}}", container])).trim();
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
      assert.ok(uids, `no Uid line in /proc/${pid}/status`);
      assert.deepEqual(uids.slice(1).map(Number), [PLUGIN_UID, PLUGIN_UID, PLUGIN_UID, PLUGIN_UID]);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), /^node\0\/app\/main\.mjs\0/);
    });

    test("the socket is a socket that any uid may connect to (mode 0666)", () => {
      const info = statSync(socketOnHost);
      assert.ok(info.isSocket());
      assert.equal(info.uid, PLUGIN_UID);
      assert.equal(info.mode & 0o777, 0o666);
    });

    if (ROUND_TRIP[name]) {
      test(`Save from an executor container running as uid ${EXECUTOR_UID}, then Load, returns the same bytes`, async () => {
        const input = join(shared, "input.bin");
        const tree = join(shared, "tree");
        writeFileSync(input, randomBytes(8 * 1024 * 1024), { mode: 0o644 });
        mkdirSync(join(tree, "sub"), { recursive: true });
        chmodSync(tree, 0o755);
        chmodSync(join(tree, "sub"), 0o755);
        writeFileSync(join(tree, "a.txt"), "a\n", { mode: 0o644 });
        writeFileSync(join(tree, "sub", "b.txt"), "b\n", { mode: 0o644 });
        const common = ["--socket", socketInContainer, "--config-text", backend.config, "--quiet"];

        // The executor: another container, another uid, same socket folder.
        const executor = [
          "run",
          "--rm",
          "--network=none",
          `--user=${EXECUTOR_UID}:${EXECUTOR_UID}`,
          "--volume",
          `${repoRoot}:${repoRoot}:ro`,
          "--volume",
          `${socketDir}:/tmp/artifact-plugins/${name}`,
          "--volume",
          `${shared}:${shared}`,
          nodeImage,
          "node",
          clientMain,
        ];
        let started = performance.now();
        await podman([
          ...executor,
          "save",
          ...common,
          "--key",
          "image-test/input.bin",
          "--path",
          input,
        ]);
        await podman([...executor, "save", ...common, "--key", "image-test/tree", "--path", tree]);
        numbers.executorSaveMs = Math.round(performance.now() - started);

        // And from the host as root, through the socket's host path.
        const fromHost = [
          "--socket",
          socketOnHost,
          "--plugin-name",
          name,
          "--config-text",
          backend.config,
          "--quiet",
        ];
        started = performance.now();
        await run(process.execPath, [
          clientMain,
          "load",
          ...fromHost,
          "--key",
          "image-test/input.bin",
          "--path",
          join(shared, "output.bin"),
        ]);
        await run(process.execPath, [
          clientMain,
          "load",
          ...fromHost,
          "--key",
          "image-test/tree",
          "--path",
          join(shared, "tree-out"),
        ]);
        numbers.hostLoadMs = Math.round(performance.now() - started);

        assert.equal(sha256(join(shared, "output.bin")), sha256(input));
        assert.equal(readFileSync(join(shared, "tree-out", "a.txt"), "utf8"), "a\n");
        assert.equal(readFileSync(join(shared, "tree-out", "sub", "b.txt"), "utf8"), "b\n");
        assert.equal(
          statSync(join(shared, "output.bin")).uid,
          PLUGIN_UID,
          "the plugin writes Load results as itself",
        );
      });
    }

    if (unreachable) {
      test("its first call loads the bundled SDK and reports the unreachable backend by name", async () => {
        const started = performance.now();
        const call = await run(
          process.execPath,
          [
            clientMain,
            "ls",
            "--socket",
            socketOnHost,
            "--plugin-name",
            name,
            "--config-text",
            unreachable.config,
            "--key",
            "image-test",
            "--quiet",
            "--timeout",
            "60",
          ],
          { allowFailure: true },
        );
        numbers.unreachableCallMs = Math.round(performance.now() - started);
        assert.equal(
          call.code,
          1,
          `expected the call to fail (exit 1); got ${call.code}: ${call.stderr}`,
        );
        assert.ok(
          call.stderr.includes(unreachable.target),
          `the error does not name ${unreachable.target}: ${call.stderr}`,
        );
        assert.match(call.stderr, /ECONNREFUSED.*\[unavailable\]/, call.stderr);
        const problems = (await logLines(container)).filter((line) => line.level === "fatal");
        assert.deepEqual(problems, []);
      });
    }

    test("podman stop (SIGTERM) exits 0 and removes the socket", async () => {
      const started = performance.now();
      await podman(["stop", "--time=10", container]);
      numbers.stopMs = Math.round(performance.now() - started);
      const exitCode = (
        await podman(["inspect", "--format", "{{.State.ExitCode}}", container])
      ).trim();
      assert.equal(exitCode, "0");
      assert.equal(existsSync(socketOnHost), false, "the socket is still there");
      const lines = await logLines(container);
      assert.ok(
        lines.some((line) => line.msg === "stopped"),
        "no 'stopped' log line",
      );
    });
  });
}

// Argo may stop a pod at any moment, also while the plugin is still loading
// after binding. As PID 1 of its container the process gets no default signal
// handling: a SIGTERM that arrives before the core installs its handler is
// ignored, and the container is killed after the grace period (exit 137).
if (drivers.includes("local")) {
  test("a SIGTERM right after the socket appears still exits 0 promptly", async () => {
    const name = "local";
    const container = `argo-driver-image-test-early-stop-${process.pid}`;
    const work = mkdtempSync("/tmp/argo-driver-image-test-early-stop-");
    const socketDir = join(work, name);
    mkdirSync(socketDir);
    chownSync(socketDir, PLUGIN_UID, PLUGIN_UID);
    try {
      await podman([
        "run",
        "--detach",
        `--name=${container}`,
        "--network=none",
        "--volume",
        `${socketDir}:/tmp/artifact-plugins/${name}`,
        `${imagePrefix}/${name}:${driverTag}`,
        `/tmp/artifact-plugins/${name}/socket`,
      ]);
      // Signalled from the host, the moment the socket exists (podman kill
      // would take longer than the plugin needs to finish starting).
      const pid = Number(
        (await podman(["inspect", "--format", "{{.State.Pid}}", container])).trim(),
      );
      await waitFor(() => existsSync(join(socketDir, "socket")), 15_000, "the socket to appear");
      process.kill(pid, "SIGTERM");
      const running = async () =>
        (await podman(["inspect", "--format", "{{.State.Running}}", container])).trim() === "false";
      await waitFor(running, 5_000, "the container to exit after SIGTERM");
      const exitCode = (
        await podman(["inspect", "--format", "{{.State.ExitCode}}", container])
      ).trim();
      assert.equal(exitCode, "0");
      assert.equal(existsSync(join(socketDir, "socket")), false, "the socket is still there");
    } finally {
      await podman(["rm", "--force", "--ignore", container]).catch(() => {});
      rmSync(work, { recursive: true, force: true });
    }
  });
}

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
  // The SDK the driver bundles, from its package, to create the container.
  const sdk = createRequire(join(repoRoot, "drivers/azure/package.json"))("@azure/storage-blob");
  const credential = new sdk.StorageSharedKeyCredential("devstoreaccount1", AZURITE_KEY);
  await new sdk.BlobServiceClient(endpoint, credential).getContainerClient("image-test").create();
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

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
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

async function logLines(container) {
  const { stdout, stderr } = await execFile("podman", ["logs", container], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return `${stdout}\n${stderr}`
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

function run(command, args, { allowFailure = false } = {}) {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", fail);
    child.on("close", (code) => {
      if (code !== 0 && !allowFailure) {
        fail(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`));
      } else {
        done({ code, stdout, stderr });
      }
    });
  });
}

/** `target`: a Unix socket path, or `{host, port}`. */
function canConnect(target) {
  return new Promise((done) => {
    const socket = connect(target);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

async function waitFor(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(`gave up waiting ${timeoutMs} ms for ${what}`);
    await new Promise((done) => setTimeout(done, 5));
  }
}

/** What `grpcurl -unix <socket> list` does, with the core's own grpc-js. */
async function listServices(socketPath) {
  const fromCore = createRequire(join(repoRoot, "shared/core/package.json"));
  const grpc = fromCore("@grpc/grpc-js");
  const protoLoader = fromCore("@grpc/proto-loader");
  const reflectionRoot = dirname(fromCore.resolve("@grpc/reflection/package.json"));
  const definition = protoLoader.loadSync(
    join(reflectionRoot, "build/proto/grpc/reflection/v1/reflection.proto"),
  );
  const { ServerReflection } = grpc.loadPackageDefinition(definition).grpc.reflection.v1;
  const client = new ServerReflection(`unix:${socketPath}`, grpc.credentials.createInsecure());
  try {
    return await new Promise((done, fail) => {
      const call = client.ServerReflectionInfo();
      call.on("data", (response) => {
        done(response.listServicesResponse?.service.map((service) => service.name) ?? []);
        call.end();
      });
      call.on("error", fail);
      call.write({ listServices: "" });
    });
  } finally {
    client.close();
  }
}

function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}
