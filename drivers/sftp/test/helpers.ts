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

/**
 * The configuration for the test backend, with password login and pinned host
 * keys: one YAML line per field (values in JSON, which YAML reads), so that
 * lines can be appended. Fields set to undefined are left out.
 */
export function configuration(fields: Record<string, unknown> = {}): string {
  const sftp = backend();
  const all: Record<string, unknown> = {
    host: sftp.host,
    port: sftp.port,
    username: sftp.username,
    passwordSecret: { file: sftp.files.password },
    knownHostsSecret: { file: sftp.files.knownHosts },
    ...fields,
  };
  return Object.entries(all)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join("\n");
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
