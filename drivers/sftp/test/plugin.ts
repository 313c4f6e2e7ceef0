import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { TestPlugin } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";

export const backend = () => inject("sftp");

export const entrypoint = join(import.meta.dirname, "../dist/main.js");

/** Environment of the plugin process: the test secrets are `{file}` references. */
export function secretEnvironment(): Record<string, string> {
  return { ARTIFACT_DRIVER_SECRET_SOURCES: "env,file" };
}

/** A fresh base path in the test user's folder (created by the first upload). */
export function freshBase(): string {
  return join(backend().dataDir, `base-${randomBytes(4).toString("hex")}`);
}

/**
 * A configuration for the test sshd, with password login and pinned host
 * keys, as YAML lines of `field: <JSON value>` (JSON values are YAML), so
 * that more lines can be appended. Fields set to undefined are left out.
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

/** The real plugin on a socket in a fresh folder; `stop()` closes its clients and returns the exit code. */
export function startPlugin(env: Record<string, string> = {}): Promise<TestPlugin> {
  return TestPlugin.start(entrypoint, {
    env: { ...secretEnvironment(), ...env },
    pluginName: "sftp",
  });
}
