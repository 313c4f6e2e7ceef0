// Black-box tests of the driver images, run the way Argo runs them: the
// plugin container gets the socket path as its only argument and shares the
// socket folder (an emptyDir in a pod) with an executor container that runs
// as another uid. Run by docker/test.sh after docker/build.sh.
//
// Environment: IMAGE_TEST_DRIVERS (space-separated), IMAGE_PREFIX, DRIVER_TAG,
// IMAGE_TEST_RESULTS (JSON file for the summary), CONTAINERS_CONF.
import assert from "node:assert/strict";
import { execFile as execFileCallback } from "node:child_process";
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
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ROUND_TRIP, UNREACHABLE } from "./backends.mjs";
import { canConnect, run, waitFor } from "./util.mjs";

const execFile = promisify(execFileCallback);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const clientMain = join(repoRoot, "shared/client/dist/main.js");

const PLUGIN_UID = 8737;
/** The executor container's uid in these tests: neither root nor the plugin's. */
const EXECUTOR_UID = 4321;
const drivers = required("IMAGE_TEST_DRIVERS").split(/\s+/).filter(Boolean);
const imagePrefix = required("IMAGE_PREFIX");
const driverTag = required("DRIVER_TAG");
const results = { drivers: {} };

after(() => {
  // structure.test.mjs writes the sizes into the same file.
  const file = required("IMAGE_TEST_RESULTS");
  const earlier = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  writeFileSync(file, `${JSON.stringify({ ...earlier, ...results }, null, 2)}\n`);
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

    test("answers gRPC reflection (grpcurl list) with artifact.ArtifactService", async () => {
      // Reflection loads once the server has been quiet for a moment (0.5 s).
      let services = [];
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
        services = await listServices(socketOnHost).catch(() => []);
        if (services.length > 0) break;
        await new Promise((done) => setTimeout(done, 200));
      }
      assert.ok(services.includes("artifact.ArtifactService"), `services: ${services}`);
    });

    // After reflection has loaded, so that its start-up path is covered too.
    test("starts with no warnings (reflection and every start-up path work bundled)", async () => {
      const problems = (await logLines(container)).filter((line) =>
        ["warn", "error", "fatal"].includes(line.level),
      );
      assert.deepEqual(problems, []);
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

        // The executor: another container, another uid, same socket folder;
        // the image's own node runs the repository's client.
        const executor = [
          "run",
          "--rm",
          "--network=none",
          `--user=${EXECUTOR_UID}:${EXECUTOR_UID}`,
          "--entrypoint=node",
          "--volume",
          `${repoRoot}:${repoRoot}:ro`,
          "--volume",
          `${socketDir}:/tmp/artifact-plugins/${name}`,
          "--volume",
          `${shared}:${shared}`,
          image,
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
