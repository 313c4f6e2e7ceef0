import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** BACKEND: the test server's loopback address and test credentials. */
    backend: { root: string };
  }
}

/**
 * Starts the test backend once for every test file and removes it after.
 * BACKEND: start the server that setup-backend.sh installed (its last line is
 * the server's path) on a free 127.0.0.1 port, wait until it answers, and
 * provide its address; stop it in the returned teardown. The scaffold's
 * backend is a fresh folder below the one setup-backend.sh prints.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const installed = execFileSync("bash", [join(import.meta.dirname, "setup-backend.sh")], {
    encoding: "utf8",
  });
  const server = installed.trim().split("\n").at(-1) ?? "";
  const root = await mkdtemp(join(server, "run-"));
  project.provide("backend", { root });
  return async () => {
    await rm(root, { recursive: true, force: true });
  };
}
