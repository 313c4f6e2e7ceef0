import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type ArtifactServiceServer,
  ArtifactServiceService,
} from "@argo-artifact-drivers/core/proto";
import { Server, ServerCredentials } from "@grpc/grpc-js";

export const MiB = 1024 * 1024;

/** The built CLI, run as users run it. */
export const CLI = join(import.meta.dirname, "../dist/main.js");

/**
 * The local reference plugin's real entrypoint. Not a package dependency (the
 * local driver's own tests depend on this client through the conformance
 * kit); turbo.json orders its build before these tests.
 */
export const LOCAL_PLUGIN = join(import.meta.dirname, "../../../drivers/local/dist/main.js");

/** Prints the process's peak RSS on stderr at exit, for memory checks of the CLI. */
const RSS_REPORTER = `data:text/javascript,${encodeURIComponent(
  'import { writeSync } from "node:fs"; process.on("exit", () => writeSync(2, "\\npeak-rss-bytes=" + process.resourceUsage().maxRSS * 1024 + "\\n"));',
)}`;

export async function tempDir(prefix = "client-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** The local plugin running as a child process on `socketPath`, as Argo starts a plugin. */
export class LocalPlugin {
  private exit: Promise<number | null>;
  readonly logs: string[] = [];

  private constructor(readonly child: ChildProcess) {
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => this.logs.push(text));
    this.exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** Spawns the plugin; waits for its socket unless `wait` is false. */
  static async start(socketPath: string, wait = true): Promise<LocalPlugin> {
    const child = spawn(process.execPath, [LOCAL_PLUGIN, socketPath], {
      stdio: ["ignore", "ignore", "pipe"],
      cwd: tmpdir(),
    });
    const plugin = new LocalPlugin(child);
    if (wait) {
      const deadline = Date.now() + 10_000;
      while (!existsSync(socketPath)) {
        if (child.exitCode !== null) throw new Error(`the plugin exited: ${plugin.logs.join("")}`);
        if (Date.now() > deadline) throw new Error(`no socket after 10 s: ${plugin.logs.join("")}`);
        await sleep(10);
      }
    }
    return plugin;
  }

  /** SIGTERM (or `signal`), then waits for the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exit;
  }
}

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** Peak RSS of the CLI process, when `measureRss` was set. */
  peakRssBytes?: number;
}

export interface CliOptions {
  /** Bytes (or a file, streamed) for stdin; stdin is closed empty otherwise. */
  input?: string | Buffer | { file: string };
  cwd?: string;
  env?: Record<string, string>;
  measureRss?: boolean;
  /** Reads stdout slowly: sleeps this many ms per chunk, to exercise backpressure. */
  slowReaderMs?: number;
  /** Keeps only a hash and a byte count of stdout, for large outputs. */
  hashStdout?: boolean;
}

export interface CliHashedResult extends CliResult {
  stdoutBytes: number;
  stdoutSha256: string;
}

/** Runs the CLI with `args`, never through a shell. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliHashedResult> {
  const nodeArgs = options.measureRss ? ["--import", RSS_REPORTER] : [];
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const input = options.input;
  if (input === undefined) child.stdin.end();
  else if (typeof input === "string" || Buffer.isBuffer(input)) child.stdin.end(input);
  else createReadStream(input.file).pipe(child.stdin);
  child.stdin.on("error", () => {});

  const errChunks: Buffer[] = [];
  child.stderr.on("data", (chunk: Buffer) => errChunks.push(chunk));
  const hash = createHash("sha256");
  const outChunks: Buffer[] = [];
  let outBytes = 0;
  const reading = (async () => {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      outBytes += chunk.length;
      hash.update(chunk);
      if (!options.hashStdout) outChunks.push(chunk);
      if (options.slowReaderMs) await sleep(options.slowReaderMs);
    }
  })();
  const code = await new Promise<number | null>((resolve) =>
    child.once("close", (exitCode) => resolve(exitCode)),
  );
  await reading;
  let stderr = Buffer.concat(errChunks).toString("utf8");
  let peakRssBytes: number | undefined;
  const rss = /\npeak-rss-bytes=(\d+)\n/.exec(stderr);
  if (rss?.[1]) {
    peakRssBytes = Number(rss[1]);
    stderr = stderr.replace(rss[0], "");
  }
  return {
    code,
    stdout: Buffer.concat(outChunks),
    stderr,
    peakRssBytes,
    stdoutBytes: outBytes,
    stdoutSha256: hash.digest("hex"),
  };
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * A hand-written plugin in this process, for the wire behaviours the
 * reference plugin never shows (error frames mid-stream, `is_end`, bare gRPC
 * statuses, oversized frames, silence). Unset methods answer UNIMPLEMENTED.
 */
export async function startFakePlugin(
  socketPath: string,
  implementation: Partial<ArtifactServiceServer>,
): Promise<{ stop(): Promise<void> }> {
  const server = new Server();
  server.addService(ArtifactServiceService, implementation as ArtifactServiceServer);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
