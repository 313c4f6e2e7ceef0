// Process and network helpers of the image tests and their backends.
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

export function run(command, args, { allowFailure = false } = {}) {
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
export function canConnect(target) {
  return new Promise((done) => {
    const socket = connect(target);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

export async function waitFor(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(`gave up waiting ${timeoutMs} ms for ${what}`);
    await new Promise((done) => setTimeout(done, 5));
  }
}
