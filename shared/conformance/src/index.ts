import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runArgoInterop } from "./argo-interop.js";
import { sha256, sha256File, treeDigest, writeRandomFile, writeTree } from "./files.js";
import { openStreamFrames } from "./frames.js";
import { PluginProcess } from "./plugin-process.js";

export { sha256File, treeDigest, writeRandomFile, writeTree } from "./files.js";
export { type KubernetesStandIn, startKubernetesStandIn } from "./kubernetes-stand-in.js";
export { PluginProcess } from "./plugin-process.js";

/** What a driver may declare it cannot do; the kit then reports the scenario as not run, with the reason. */
export type Capability =
  /** Zero-byte objects. */
  | "empty-files"
  /** Keys with spaces, unicode, `%`, `#`, `+`. */
  | "special-characters";

export interface ConformanceOptions {
  /** The driver's name, shown in test titles. */
  driver: string;
  /** Absolute path of the driver's built entrypoint (`dist/main.js`), started as Argo starts the image. */
  entrypoint: string;
  /** The configuration string for the backend under test; every scenario uses keys under a fresh random prefix. */
  configuration: () => string | Promise<string>;
  /** Extra environment for the plugin process (e.g. ARTIFACT_DRIVER_SECRET_SOURCES). */
  env?: Record<string, string>;
  /** Capabilities the driver lacks, each with the reason printed in the test output. */
  lacks?: Partial<Record<Capability, string>>;
  /** Size of the large-file scenarios; at least 50 MiB. Default 56 MiB. */
  largeFileBytes?: number;
  /** Size S of the memory scenario, which compares streaming S and 4S. Default 64 MiB. */
  memoryProbeBytes?: number;
}

const MiB = 1024 * 1024;

/** A client process that SaveStreams endless data and says so on stdout after 8 MiB. */
const SEND_FOREVER = `
const { ArtifactClient } = await import(process.env.CLIENT);
const client = new ArtifactClient(process.env.SOCKET, { pluginName: "conformance", configuration: process.env.CONFIGURATION });
let sent = 0;
async function* forever() {
  for (;;) {
    yield Buffer.alloc(1024 * 1024, sent % 251);
    sent += 1;
    if (sent === 8) process.stdout.write("sent\\n");
  }
}
await client.saveStream(process.env.KEY, forever());
`;
const SCENARIO_TIMEOUT_MS = 240_000;

/**
 * Registers the conformance scenarios for one driver in the current vitest
 * file. Everything runs black-box: the driver's real entrypoint as a child
 * process on a Unix socket, driven by a real gRPC client, exactly the calls
 * Argo's executor and argo-server make (CONTRACT.md section 2).
 */
export function describeConformance(options: ConformanceOptions): void {
  const largeFileBytes = Math.max(options.largeFileBytes ?? 56 * MiB, 50 * MiB);
  const memoryProbeBytes = options.memoryProbeBytes ?? 64 * MiB;
  const run = randomBytes(4).toString("hex");
  const key = (name: string) => `conformance-${run}/${name}`;

  let work: string;
  let configuration: string;
  let plugin: PluginProcess;
  let client: ArtifactClient;
  let largeFile: string;

  /** A scenario, or a visible "not run" line when the driver declared it lacks the capability. */
  function scenario(
    title: string,
    needs: Capability[],
    body: () => Promise<void>,
    timeoutMs = SCENARIO_TIMEOUT_MS,
  ): void {
    const missing = needs.find((capability) => options.lacks?.[capability] !== undefined);
    if (missing) {
      const reason = `${options.driver} lacks ${missing}: ${options.lacks?.[missing]}`;
      it.skip(`${title} [not run: ${reason}]`, () => {});
      return;
    }
    it(title, body, timeoutMs);
  }

  const socketIn = (name: string) => join(work, "sockets", name, "socket");
  const startPlugin = (name: string) =>
    PluginProcess.start(options.entrypoint, socketIn(name), options.env);

  describe(`${options.driver} driver conformance`, () => {
    beforeAll(async () => {
      // Short base path: a Unix socket path must fit in 108 bytes.
      work = await mkdtemp(join(tmpdir(), "conf-"));
      configuration = await options.configuration();
      plugin = await startPlugin("main");
      client = plugin.client(configuration);
      largeFile = join(work, "large.bin");
      await writeRandomFile(largeFile, largeFileBytes);
    }, SCENARIO_TIMEOUT_MS);

    afterAll(async () => {
      client?.close();
      await plugin?.stop();
      await rm(work, { recursive: true, force: true });
    }, SCENARIO_TIMEOUT_MS);

    /** Saves `source` at `objectKey`, loads it to a fresh path and checks the bytes and that no temp file is left. */
    async function roundTrip(source: string, objectKey: string): Promise<void> {
      await client.save(objectKey, source);
      const into = await mkdtemp(join(work, "load-"));
      const target = join(into, "artifact");
      await client.load(objectKey, target);
      expect(await sha256File(target)).toBe(await sha256File(source));
      expect(await readdir(into)).toEqual(["artifact"]);
    }

    describe("files", () => {
      scenario("an empty file round-trips", ["empty-files"], async () => {
        const source = join(work, "empty.txt");
        await writeFile(source, "");
        await roundTrip(source, key("files/empty.txt"));
      });

      scenario("a 1-byte file round-trips", [], async () => {
        const source = join(work, "one.txt");
        await writeFile(source, "x");
        await roundTrip(source, key("files/one.txt"));
      });

      scenario(
        `a ${Math.round(largeFileBytes / MiB)} MiB binary file round-trips`,
        [],
        async () => {
          await roundTrip(largeFile, key("files/large.bin"));
        },
      );

      scenario(
        "keys with spaces, unicode, %, #, + and ? round-trip exactly",
        ["special-characters"],
        async () => {
          const source = join(work, "special.txt");
          await writeFile(source, "special");
          const special = key("files/dir with space/ünïcødé 文件 100% #1+2?.txt");
          await roundTrip(source, special);
          expect(await client.list(key("files/dir with space"))).toEqual([special]);
        },
      );

      scenario("saving over a file replaces it", [], async () => {
        const first = join(work, "first.txt");
        const second = join(work, "second.txt");
        await writeFile(first, "first version, longer than the second");
        await writeFile(second, "second");
        await client.save(key("files/overwrite.txt"), first);
        await roundTrip(second, key("files/overwrite.txt"));
      });
    });

    describe("directories", () => {
      const treeRoot = () => join(work, "tree");

      scenario("a nested tree of 220+ files round-trips exactly", [], async () => {
        await writeTree(treeRoot(), 220);
        await client.save(key("tree"), treeRoot());
        const target = join(work, "tree-loaded");
        await client.load(key("tree"), target);
        expect(await treeDigest(target)).toEqual(await treeDigest(treeRoot()));
      });

      scenario("ListObjects lists every object of a directory as full keys", [], async () => {
        const expected = [...(await treeDigest(treeRoot())).keys()]
          .map((path) => key(`tree/${path}`))
          .sort();
        expect((await client.list(key("tree"))).sort()).toEqual(expected);
        expect((await client.list(`${key("tree")}/`)).sort()).toEqual(expected);
      });

      scenario("saving over a directory replaces the whole tree", [], async () => {
        const second = join(work, "tree-2");
        await mkdir(join(second, "level-0"), { recursive: true });
        await writeFile(join(second, "level-0", "new.txt"), "new");
        await writeFile(join(second, "empty"), "replaced");
        await client.save(key("tree-replaced"), treeRoot());
        await client.save(key("tree-replaced"), second);
        const target = join(work, "tree-2-loaded");
        await client.load(key("tree-replaced"), target);
        expect(await treeDigest(target)).toEqual(await treeDigest(second));
      });
    });

    describe("ListObjects and IsDirectory", () => {
      scenario("a file is not a directory and lists as itself or nothing", [], async () => {
        const source = join(work, "plain.txt");
        await writeFile(source, "plain");
        await client.save(key("kinds/plain.txt"), source);
        expect(await client.isDirectory(key("kinds/plain.txt"))).toBe(false);
        const listed = await client.list(key("kinds/plain.txt"));
        expect([[], [key("kinds/plain.txt")]]).toContainEqual(listed);
      });

      scenario("a directory is a directory, with or without a trailing slash", [], async () => {
        const source = join(work, "inside.txt");
        await writeFile(source, "inside");
        await client.save(key("kinds/dir/a/inside.txt"), source);
        expect(await client.isDirectory(key("kinds/dir"))).toBe(true);
        expect(await client.isDirectory(`${key("kinds/dir")}/`)).toBe(true);
        expect(await client.isDirectory(key("kinds/dir/a"))).toBe(true);
        expect(await client.list(key("kinds/dir"))).toEqual([key("kinds/dir/a/inside.txt")]);
      });

      scenario(
        "a missing key is not a directory, without error, and cannot be listed",
        [],
        async () => {
          expect(await client.isDirectory(key("kinds/missing"))).toBe(false);
          await expectFailure(
            client.list(key("kinds/missing")),
            key("kinds/missing"),
            /not.?found|nothing exists|does not exist/i,
          );
        },
      );
    });

    describe("OpenStream and SaveStream", () => {
      scenario("OpenStream returns the exact bytes in frames of 1 KiB to 2 MiB", [], async () => {
        await client.save(key("stream/large.bin"), largeFile);
        const result = await openStreamFrames(
          plugin.socketPath,
          configuration,
          key("stream/large.bin"),
        );
        expect(result.error).toBe("");
        expect(result.sha256).toBe(await sha256File(largeFile));
        expect(result.maxFrameBytes).toBeLessThanOrEqual(2 * MiB);
        expect(result.dataFrames).toBeGreaterThanOrEqual(Math.floor(largeFileBytes / (2 * MiB)));
      });

      scenario("OpenStream of a missing key ends with an error naming the key", [], async () => {
        const result = await openStreamFrames(
          plugin.socketPath,
          configuration,
          key("stream/missing.bin"),
        );
        expect(result.error).toContain(key("stream/missing.bin"));
        expect(result.error).toMatch(/not.?found|nothing exists|does not exist/i);
      });

      scenario("GetCapabilities announces SaveStream", [], async () => {
        expect(await client.capabilities()).toEqual({ supportsSaveStream: true });
      });

      scenario("SaveStream round-trips a large file written through", [], async () => {
        const sent = await client.saveStream(
          key("stream/saved.bin"),
          createReadStream(largeFile, { highWaterMark: 2 * MiB }),
        );
        expect(sent).toBe(largeFileBytes);
        const target = join(work, "stream-saved.bin");
        await client.load(key("stream/saved.bin"), target);
        expect(await sha256File(target)).toBe(await sha256File(largeFile));
      });

      scenario(
        "a SaveStream cut mid-way (client killed) leaves no object at the key",
        [],
        async () => {
          // The wait container dying mid-upload: the connection drops without a
          // half-close. (grpc-js clients cannot cancel without first sending
          // END_STREAM, so a killed process is the faithful cut here; Argo's Go
          // client's cancel is covered by the Go interop tests.)
          const sender = spawn(process.execPath, ["--input-type=module", "-e", SEND_FOREVER], {
            env: {
              ...process.env,
              SOCKET: plugin.socketPath,
              KEY: key("stream/cut.bin"),
              CONFIGURATION: configuration,
              CLIENT: import.meta.resolve("@argo-artifact-drivers/client"),
            },
            stdio: ["ignore", "pipe", "inherit"],
          });
          await new Promise<void>((resolve, reject) => {
            sender.stdout.once("data", () => resolve());
            sender.once("exit", (code) =>
              reject(new Error(`the sender exited early with ${code}`)),
            );
          });
          sender.kill("SIGKILL");
          await new Promise((resolve) => sender.once("exit", resolve));
          // Give the plugin time to see the broken connection and abort the write.
          await new Promise((resolve) => setTimeout(resolve, 1000));
          expect(await client.isDirectory(key("stream/cut.bin"))).toBe(false);
          await expectFailure(
            client.load(key("stream/cut.bin"), join(work, "cut.bin")),
            key("stream/cut.bin"),
            /not.?found|nothing exists/i,
          );
          expect(plugin.logs.join("\n")).toMatch(/SaveStream failed/);
        },
      );
    });

    describe("Delete", () => {
      scenario("deletes a file, and deleting it again succeeds", [], async () => {
        const source = join(work, "delete-me.txt");
        await writeFile(source, "delete me");
        await client.save(key("delete/file.txt"), source);
        await client.delete(key("delete/file.txt"));
        await client.delete(key("delete/file.txt"));
        await expectFailure(
          client.load(key("delete/file.txt"), join(work, "deleted.txt")),
          key("delete/file.txt"),
          /not.?found|nothing exists/i,
        );
      });

      scenario("deletes a whole directory, with or without a trailing slash", [], async () => {
        const tree = join(work, "delete-tree");
        await writeTree(tree, 12);
        await client.save(key("delete/dir-a"), tree);
        await client.save(key("delete/dir-b"), tree);
        await client.delete(key("delete/dir-a"));
        await client.delete(`${key("delete/dir-b")}/`);
        for (const dir of ["delete/dir-a", "delete/dir-b"]) {
          expect(await client.isDirectory(key(dir))).toBe(false);
          await expectFailure(client.list(key(dir)), key(dir), /not.?found|nothing exists/i);
        }
      });

      scenario("deleting a key that never existed succeeds", [], async () => {
        await client.delete(key("delete/never-existed"));
      });
    });

    describe("bad requests", () => {
      scenario(
        "Load of a missing key fails clearly and leaves nothing at the path",
        [],
        async () => {
          const into = await mkdtemp(join(work, "missing-"));
          await expectFailure(
            client.load(key("missing/file.tgz"), join(into, "file.tgz")),
            key("missing/file.tgz"),
            /not.?found|nothing exists/i,
          );
          expect(await readdir(into)).toEqual([]);
        },
      );

      scenario(
        "an invalid configuration is refused naming the field, and the server keeps serving",
        [],
        async () => {
          const typo = plugin.client(`${configuration}\nparalelism: 4\n`);
          try {
            const failure = await expectFailure(
              typo.isDirectory(key("any")),
              key("any"),
              /paralelism/,
            );
            expect(failure).toMatch(/did you mean "parallelism"/);
          } finally {
            typo.close();
          }
          const broken = plugin.client(": not yaml: [");
          try {
            await expectFailure(broken.isDirectory(key("any")), key("any"), /configuration/i);
          } finally {
            broken.close();
          }
          const wrongType = plugin.client(`${configuration}\nparallelism: many\n`);
          try {
            await expectFailure(wrongType.isDirectory(key("any")), key("any"), /parallelism/);
          } finally {
            wrongType.close();
          }
          expect(await client.capabilities()).toEqual({ supportsSaveStream: true });
        },
      );

      scenario("invalid keys are refused clearly, and the server keeps serving", [], async () => {
        for (const bad of ["", "/", "../escape", "a/../../b", "a//b", "./a", "a/./b"]) {
          await expectFailure(client.isDirectory(bad), bad, /invalid key/);
          await expectFailure(client.save(bad, largeFile), bad, /invalid key/);
        }
        const source = join(work, "after-bad-keys.txt");
        await writeFile(source, "still serving");
        await roundTrip(source, key("bad/after.txt"));
      });

      scenario("32 concurrent operations all succeed", [], async () => {
        const sources = await Promise.all(
          Array.from({ length: 32 }, async (_, i) => {
            const source = join(work, `concurrent-${i}.bin`);
            await writeRandomFile(source, 64 * 1024 + i);
            return source;
          }),
        );
        await Promise.all(
          sources.map((source, i) => client.save(key(`concurrent/${i}.bin`), source)),
        );
        await Promise.all(
          sources.map(async (source, i) => {
            if (i % 2 === 0) {
              const target = join(work, `concurrent-loaded-${i}.bin`);
              await client.load(key(`concurrent/${i}.bin`), target);
              expect(await sha256File(target)).toBe(await sha256File(source));
            } else {
              const chunks: Buffer[] = [];
              for await (const chunk of client.openStream(key(`concurrent/${i}.bin`)))
                chunks.push(chunk);
              expect(sha256(Buffer.concat(chunks))).toBe(await sha256File(source));
            }
          }),
        );
      });
    });

    describe("Argo's own Go client", () => {
      scenario(
        "passes the executor, garbage collection, UI and SaveStream flows of shared/interop-go",
        [],
        async () => {
          const run = await runArgoInterop({
            name: options.driver,
            entrypoint: options.entrypoint,
            configuration,
            env: options.env,
          });
          const tail = run.output.split("\n").slice(-60).join("\n");
          expect(run.code, `go test failed:\n${tail}`).toBe(0);
          for (const test of [
            "TestArgoClient",
            "TestSaveStream",
            "TestSocketAppearsWhileArgoPolls",
            "TestPluginReplacesStaleSocket",
          ]) {
            expect(run.output).toContain(`--- PASS: ${test} `);
          }
          console.log(
            `[${options.driver}] ${run.output.split("\n").filter((line) => /^\s*--- PASS/.test(line)).length} Go subtests passed`,
          );
        },
        900_000,
      );
    });

    describe("process", () => {
      scenario("a wrong number of arguments prints usage and exits non-zero", [], async () => {
        for (const args of [[], ["a.sock", "extra"]]) {
          const result = await runEntrypoint(options.entrypoint, args);
          expect(result.code).toBe(2);
          expect(result.stderr).toMatch(/usage: .*SOCKET_PATH/);
        }
        const help = await runEntrypoint(options.entrypoint, ["--help"]);
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(/ARTIFACT_DRIVER_SECRET_SOURCES/);
      });

      scenario("replaces a stale socket file left by a killed plugin", [], async () => {
        const first = await startPlugin("stale");
        await first.stop("SIGKILL");
        expect(existsSync(first.socketPath)).toBe(true);
        const second = await startPlugin("stale");
        const fresh = second.client(configuration);
        try {
          expect(await fresh.capabilities()).toEqual({ supportsSaveStream: true });
        } finally {
          fresh.close();
          await second.stop();
        }
      });

      scenario("creates a missing socket folder", [], async () => {
        const nested = await startPlugin("missing/deeper/folder");
        const fresh = nested.client(configuration);
        try {
          expect(await fresh.isDirectory(key("nothing-here"))).toBe(false);
        } finally {
          fresh.close();
          await nested.stop();
        }
      });

      scenario(
        "SIGTERM lets a call in flight finish, removes the socket and exits 0",
        [],
        async () => {
          const stopping = await startPlugin("sigterm");
          const fresh = stopping.client(configuration);
          try {
            await fresh.save(key("sigterm/large.bin"), largeFile);
            const into = await mkdtemp(join(work, "sigterm-"));
            const target = join(into, "loaded.bin");
            const loading = fresh.load(key("sigterm/large.bin"), target);
            // In flight once the plugin has started writing its temp file beside the target.
            const deadline = Date.now() + 30_000;
            while ((await readdir(into)).length === 0 && Date.now() < deadline) {
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
            const exitCode = await stopping.stop("SIGTERM");
            await loading;
            expect(exitCode).toBe(0);
            expect(existsSync(stopping.socketPath)).toBe(false);
            expect(await sha256File(target)).toBe(await sha256File(largeFile));
          } finally {
            fresh.close();
          }
        },
      );

      scenario(
        "peak memory does not grow with the artifact's size (streaming S vs 4S)",
        [],
        async () => {
          const small = join(work, "memory-small.bin");
          const large = join(work, "memory-large.bin");
          await writeRandomFile(small, memoryProbeBytes);
          await writeRandomFile(large, 4 * memoryProbeBytes);
          await client.save(key("memory/small.bin"), small);
          await client.save(key("memory/large.bin"), large);

          async function peakWhileStreaming(name: string, source: string): Promise<number> {
            const probe = await startPlugin(`memory-${name}`);
            const probeClient = probe.client(configuration);
            try {
              const streamed = await openStreamFrames(
                probe.socketPath,
                configuration,
                key(`memory/${name}.bin`),
              );
              expect(streamed.sha256).toBe(await sha256File(source));
              await probeClient.saveStream(
                key(`memory/${name}-copy.bin`),
                createReadStream(source, { highWaterMark: 2 * MiB }),
              );
              await probeClient.load(
                key(`memory/${name}.bin`),
                join(work, `memory-${name}-loaded.bin`),
              );
              return await probe.peakRss();
            } finally {
              probeClient.close();
              await probe.stop();
            }
          }
          const peakSmall = await peakWhileStreaming("small", small);
          const peakLarge = await peakWhileStreaming("large", large);
          const growth = peakLarge - peakSmall;
          console.log(
            `[${options.driver}] peak RSS streaming ${memoryProbeBytes / MiB} MiB: ${Math.round(peakSmall / MiB)} MiB; ${(4 * memoryProbeBytes) / MiB} MiB: ${Math.round(peakLarge / MiB)} MiB`,
          );
          // Buffering the artifact would add about 3S; garbage collection
          // timing alone moves the peak by tens of MiB, so allow up to S.
          expect(growth).toBeLessThan(memoryProbeBytes);
        },
      );
    });
  });
}

/** Runs the entrypoint to completion with `args`; for the command-line checks. */
function runEntrypoint(
  entrypoint: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [entrypoint, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Expects `call` to fail with a message naming `key` and matching `pattern`; returns the message. */
async function expectFailure(
  call: Promise<unknown>,
  key: string,
  pattern: RegExp,
): Promise<string> {
  let message: string | undefined;
  try {
    await call;
  } catch (error) {
    message = error instanceof Error ? error.message : String(error);
  }
  expect(message, "the call should have failed").toBeDefined();
  expect(message).toMatch(pattern);
  expect(message).toContain(JSON.stringify(key));
  return message ?? "";
}
