import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CLI,
  LocalPlugin,
  MiB,
  removeDir,
  runCli,
  sha256,
  sha256File,
  startFakePlugin,
  tempDir,
} from "./helpers.js";

const COMMANDS = ["save", "load", "cat", "put", "ls", "is-dir", "rm", "caps"] as const;

describe("--help", () => {
  test("the overview lists every command with its RPC, examples and exit statuses", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    const help = result.stdout.toString();
    for (const [command, rpc] of [
      ["save", "Save"],
      ["load", "Load"],
      ["cat", "OpenStream"],
      ["put", "SaveStream"],
      ["ls", "ListObjects"],
      ["is-dir", "IsDirectory"],
      ["rm", "Delete"],
      ["caps", "GetCapabilities"],
    ]) {
      expect(help).toMatch(new RegExp(`\\n  ${command} \\[options\\] +.*\\(${rpc}\\)`));
    }
    expect(help).toContain("Examples:");
    expect(help).toContain("Exit status:");
  });

  test.each(COMMANDS)("%s --help shows the common options and an example", async (command) => {
    const result = await runCli([command, "--help"]);
    expect(result.code).toBe(0);
    const help = result.stdout.toString();
    for (const option of [
      "--socket <path>",
      "--config <file|->",
      "--plugin-name <name>",
      "--wait",
      "--timeout",
    ]) {
      expect(help).toContain(option);
    }
    expect(help.includes("--key <key>")).toBe(command !== "caps");
    expect(help).toMatch(/Examples?:\n {2}.*artifact-client /);
    if (command === "save" || command === "load") expect(help).toContain("--path <local path>");
  });
});

describe("usage errors exit with status 2", () => {
  test("a missing --key is named", async () => {
    const result = await runCli(["cat", "--socket", "/tmp/x.sock"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--key");
  });

  test("an unknown command", async () => {
    const result = await runCli(["copy"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command 'copy'/);
  });

  test("put cannot read its configuration from stdin", async () => {
    const result = await runCli(["put", "--socket", "/tmp/x.sock", "--key", "k", "--config", "-"], {
      input: "data",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("cannot come from stdin");
    expect(result.stderr).toContain("--config-text");
  });

  test("an unreadable configuration file is named", async () => {
    const result = await runCli([
      "ls",
      "--socket",
      "/tmp/x.sock",
      "--key",
      "k",
      "--config",
      "/nonexistent/c.yaml",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("/nonexistent/c.yaml");
  });

  test("--config and --config-text together", async () => {
    const result = await runCli([
      "ls",
      "-s",
      "/tmp/x.sock",
      "-k",
      "k",
      "-c",
      "a.yaml",
      "--config-text",
      "x: 1",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot be used with/);
  });

  test("a wait that is not a number", async () => {
    const result = await runCli(["caps", "-s", "/tmp/x.sock", "--wait", "soon"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("expected a number of seconds");
  });
});

describe("against the local reference plugin", () => {
  let dir: string;
  let work: string;
  let socket: string;
  let plugin: LocalPlugin;
  let common: string[];

  beforeAll(async () => {
    dir = await tempDir();
    work = join(dir, "work");
    await mkdir(join(dir, "store"));
    await mkdir(work);
    socket = join(dir, "local", "socket");
    plugin = await LocalPlugin.start(socket);
    await writeFile(join(dir, "local.yaml"), `root: ${join(dir, "store")}\n`);
    common = ["--socket", socket, "--config", join(dir, "local.yaml")];
  });

  afterAll(async () => {
    expect(await plugin?.stop()).toBe(0);
    await removeDir(dir);
  });

  test("a whole session: save, ls, is-dir, cat, put, load, rm", async () => {
    // Relative paths are the CLI's working directory's, not the plugin's.
    await writeFile(join(work, "hello.txt"), "hello, plugin\n");
    const saved = await runCli(["save", ...common, "--key", "s/hello.txt", "--path", "hello.txt"], {
      cwd: work,
    });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stderr).toMatch(/saved hello.txt \(14 B\) to key "s\/hello.txt" in /);

    const listed = await runCli(["ls", ...common, "--key", "s"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.toString()).toBe("s/hello.txt\n");
    expect(listed.stderr).toContain('1 object under key "s"');

    expect((await runCli(["is-dir", ...common, "--key", "s"])).stdout.toString()).toBe("true\n");
    expect((await runCli(["is-dir", ...common, "--key", "s/hello.txt"])).stdout.toString()).toBe(
      "false\n",
    );

    const read = await runCli(["cat", ...common, "--key", "s/hello.txt"]);
    expect(read.code).toBe(0);
    expect(read.stdout.toString()).toBe("hello, plugin\n");

    const data = randomBytes(5 * MiB + 3);
    const put = await runCli(["put", ...common, "--key", "s/sub/data.bin"], { input: data });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toMatch(/stored 5\.0 MiB at key "s\/sub\/data.bin" with SaveStream/);
    expect(sha256((await runCli(["cat", ...common, "--key", "s/sub/data.bin"])).stdout)).toBe(
      sha256(data),
    );

    const loaded = await runCli(["load", ...common, "--key", "s", "--path", "tree"], { cwd: work });
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stderr).toContain('loaded key "s" into directory tree');
    expect((await readdir(join(work, "tree"), { recursive: true })).sort()).toEqual([
      "hello.txt",
      "sub",
      "sub/data.bin",
    ]);
    expect(sha256(await readFile(join(work, "tree", "sub", "data.bin")))).toBe(sha256(data));

    const removed = await runCli(["rm", ...common, "--key", "s"]);
    expect(removed.code).toBe(0);
    const gone = await runCli(["ls", ...common, "--key", "s"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^artifact-client ls failed: .*"s".*/);
    expect(gone.stderr).toMatch(/not.?found|nothing exists/i);
    expect((await runCli(["is-dir", ...common, "--key", "s"])).stdout.toString()).toBe("false\n");
  });

  test("caps", async () => {
    const result = await runCli(["caps", "--socket", socket]);
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe("supports_save_stream: true\n");
  });

  test("the configuration can come from stdin or inline", async () => {
    await writeFile(join(dir, "store", "inline.txt"), "inline");
    const fromStdin = await runCli(
      ["cat", "--socket", socket, "--key", "inline.txt", "--config", "-"],
      {
        input: `root: ${join(dir, "store")}\n`,
      },
    );
    expect(fromStdin.stdout.toString()).toBe("inline");
    const inline = await runCli([
      "cat",
      "--socket",
      socket,
      "--key",
      "inline.txt",
      "--config-text",
      `root: ${join(dir, "store")}`,
    ]);
    expect(inline.stdout.toString()).toBe("inline");
  });

  test("the plugin's message is printed on failure, with exit status 1", async () => {
    const wrong = await runCli([
      "ls",
      "--socket",
      socket,
      "--key",
      "k",
      "--config-text",
      "rot: /tmp",
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('unknown field "rot"; did you mean "root"?');
    const missing = await runCli([
      "load",
      ...common,
      "--key",
      "no/such.tgz",
      "--path",
      join(work, "x.tgz"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('"no/such.tgz"');
    const badKey = await runCli(["cat", ...common, "--key", "a/../b"]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/invalid key/i);
  });

  test("cat into a reader that leaves early (| head) exits 0", async () => {
    await writeFile(join(dir, "store", "long.bin"), randomBytes(16 * MiB));
    const { stdout, stderr } = await promisify(execFile)("bash", [
      "-c",
      `set -o pipefail; ${process.execPath} ${CLI} cat --socket ${socket} --config ${join(dir, "local.yaml")} --key long.bin | head -c 10 | wc -c`,
    ]);
    expect(stdout.trim()).toBe("10");
    expect(stderr).toContain("(the reader closed the pipe)");
  });

  test("--quiet prints only results", async () => {
    await writeFile(join(dir, "store", "q.txt"), "q");
    const result = await runCli(["cat", ...common, "--key", "q.txt", "--quiet"]);
    expect(result.stdout.toString()).toBe("q");
    expect(result.stderr).toBe("");
  });

  test("memory does not grow with the artifact's size (put, put --file, cat to a slow reader)", async () => {
    // Peak RSS includes garbage the GC has not collected yet, so compare two sizes:
    // buffering the artifact anywhere would add the whole difference (128 MiB).
    const peaks: Record<string, number[]> = { put: [], "put --file": [], cat: [] };
    for (const size of [16, 144]) {
      const file = join(dir, `large-${size}.bin`);
      const out = createWriteStream(file);
      for (let i = 0; i < size; i++) {
        if (!out.write(randomBytes(MiB))) await once(out, "drain");
      }
      await new Promise<void>((resolve) => out.end(() => resolve()));
      const expected = await sha256File(file);

      const put = await runCli(["put", ...common, "--key", `large/${size}-stdin.bin`], {
        input: { file },
        measureRss: true,
      });
      expect(put.code, put.stderr).toBe(0);
      const putFile = await runCli(
        ["put", ...common, "--key", `large/${size}-file.bin`, "--file", file],
        {
          measureRss: true,
        },
      );
      expect(putFile.code, putFile.stderr).toBe(0);
      const cat = await runCli(["cat", ...common, "--key", `large/${size}-stdin.bin`], {
        hashStdout: true,
        measureRss: true,
        slowReaderMs: 1,
      });
      expect(cat.code, cat.stderr).toBe(0);
      expect(cat.stdoutSha256).toBe(expected);
      expect(await sha256File(join(dir, "store", "large", `${size}-file.bin`))).toBe(expected);

      peaks.put?.push(put.peakRssBytes ?? 0);
      peaks["put --file"]?.push(putFile.peakRssBytes ?? 0);
      peaks.cat?.push(cat.peakRssBytes ?? 0);
    }
    const report = Object.entries(peaks).map(
      ([mode, [small = 0, large = 0]]) =>
        `${mode}: ${Math.round(small / MiB)} MiB for 16 MiB, ${Math.round(large / MiB)} MiB for 144 MiB`,
    );
    console.log(`peak RSS of the CLI: ${report.join("; ")}`);
    for (const [small = 0, large = 0] of Object.values(peaks)) {
      expect(small).toBeGreaterThan(0);
      // Measured growth is 20-55 MiB (garbage Node collects about every 64 MiB of buffers).
      expect(large - small).toBeLessThan(88 * MiB);
    }
  });

  test("a progress bar on a terminal, none elsewhere", async () => {
    const data = randomBytes(64 * MiB);
    await writeFile(join(dir, "store", "progress.bin"), data);
    // stdout goes to a reader that waits, so the transfer lasts long enough for the bar.
    const pipeline = (flags: string) =>
      `${process.execPath} ${CLI} cat --socket ${socket} --config ${join(dir, "local.yaml")} --key progress.bin ${flags} | (sleep 1; cat > /dev/null)`;

    const onTerminal = await promisify(execFile)("script", ["-qefc", pipeline(""), "/dev/null"]);
    expect(onTerminal.stdout).toMatch(/reading key progress\.bin: [\d.]+ MiB, [\d.]+ [KMG]?i?B\/s/);
    expect(onTerminal.stdout).toContain('read 64.0 MiB from key "progress.bin"');

    const disabled = await promisify(execFile)("script", [
      "-qefc",
      pipeline("--no-progress"),
      "/dev/null",
    ]);
    expect(disabled.stdout).not.toContain("reading key");
    expect(disabled.stdout).toContain('read 64.0 MiB from key "progress.bin"');

    const notTerminal = await promisify(execFile)("sh", ["-c", pipeline("")]);
    expect(notTerminal.stderr).not.toContain("reading key");
    expect(notTerminal.stderr).toContain('read 64.0 MiB from key "progress.bin"');
  });
});

describe("connecting", () => {
  test("no plugin on the socket: exit status 3 and the socket named", async () => {
    const dir = await tempDir();
    const socket = join(dir, "absent.sock");
    const started = Date.now();
    const result = await runCli(["ls", "--socket", socket, "--key", "k", "--wait", "0.5"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`no plugin socket at ${socket} after waiting 0.5 s`);
    expect(Date.now() - started).toBeLessThan(5000);
    await removeDir(dir);
  });

  test("the socket can come from ARTIFACT_CLIENT_SOCKET", async () => {
    const dir = await tempDir();
    const socket = join(dir, "env.sock");
    const result = await runCli(["caps", "--wait", "0"], {
      env: { ARTIFACT_CLIENT_SOCKET: socket },
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(socket);
    await removeDir(dir);
  });

  test("waits for a plugin started after the command", async () => {
    const dir = await tempDir();
    const socket = join(dir, "late", "socket");
    const running = runCli(["caps", "--socket", socket, "--wait", "10"]);
    await sleep(800);
    const plugin = await LocalPlugin.start(socket, false);
    try {
      const result = await running;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.toString()).toBe("supports_save_stream: true\n");
    } finally {
      await plugin.stop();
      await removeDir(dir);
    }
  });
});

describe("against a plugin that fails in other ways", () => {
  test("a gRPC status is printed with its code and details", async () => {
    const dir = await tempDir();
    const socket = join(dir, "fake", "socket");
    await mkdir(join(dir, "fake"));
    let pluginName = "";
    const fake = await startFakePlugin(socket, {
      delete(call, callback) {
        pluginName = call.request.artifact?.plugin?.name ?? "";
        callback({ code: 14, details: "backend at 10.0.0.1:9000 refused the connection" });
      },
      load() {},
    });
    try {
      const result = await runCli(["rm", "--socket", socket, "--key", "k"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        "artifact-client rm failed (Delete ended with gRPC status UNAVAILABLE): backend at 10.0.0.1:9000 refused the connection\n",
      );
      expect(pluginName).toBe("fake");

      const late = await runCli([
        "load",
        "--socket",
        socket,
        "--key",
        "k",
        "--path",
        join(dir, "x"),
        "--timeout",
        "0.3",
      ]);
      expect(late.code).toBe(1);
      expect(late.stderr).toContain("DEADLINE_EXCEEDED");
    } finally {
      await fake.stop();
      await removeDir(dir);
    }
  });
});
