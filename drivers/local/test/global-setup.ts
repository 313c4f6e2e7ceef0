import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder this run's artifacts live under. */
    backend: { root: string };
  }
}

/**
 * Makes a fresh folder for this run below the one setup-backend.sh prints
 * (the local driver's backend is a folder) and removes it after.
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
