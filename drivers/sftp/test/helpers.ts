import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { PluginProcess } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";

export const backend = () => inject("sftp");

export const ENTRYPOINT = join(import.meta.dirname, "../dist/main.js");

/** Secret references to files: the plugin process must allow them. */
export const PLUGIN_ENV = { ARTIFACT_DRIVER_SECRET_SOURCES: "env,file" };

/** A fresh base path in the test user's folder. */
export async function freshBase(): Promise<string> {
  const path = join(backend().dataDir, `base-${randomBytes(4).toString("hex")}`);
  return path;
}

/** The configuration (JSON, which is YAML) for the test backend, with password login and a pinned host key. */
export function configuration(fields: Record<string, unknown> = {}): string {
  const sftp = backend();
  return JSON.stringify({
    host: sftp.host,
    port: sftp.port,
    username: sftp.username,
    passwordSecret: { file: sftp.files.password },
    knownHostsSecret: { file: sftp.files.knownHosts },
    ...fields,
  });
}

/** Starts the real plugin on a fresh socket. */
export async function startPlugin(env: Record<string, string> = {}): Promise<PluginProcess> {
  const dir = await mkdtemp(join(tmpdir(), "sftp-plugin-"));
  await mkdir(join(dir, "s"));
  return PluginProcess.start(ENTRYPOINT, join(dir, "s", "socket"), { ...PLUGIN_ENV, ...env });
}

/** Awaits a call expected to fail and returns its message. */
export async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error("the call succeeded but was expected to fail");
}

export type { ArtifactClient };
