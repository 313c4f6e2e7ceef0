import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { TestPlugin } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";
import type { WebdavBackend } from "./global-setup.js";

export const backend = (): WebdavBackend => inject("webdav");

export const ENTRYPOINT = join(import.meta.dirname, "../dist/main.js");

/** The test credentials as `{env}` references: the plugin process gets them in its environment. */
export function pluginEnv(): Record<string, string> {
  const dav = backend();
  return {
    ARTIFACT_DRIVER_SECRET_SOURCES: "env",
    DAV_USERNAME: dav.username,
    DAV_PASSWORD: dav.password,
    DAV_WRONG_PASSWORD: "not-the-password",
    DAV_TOKEN: dav.token,
    DAV_WRONG_TOKEN: "not-the-token",
    DAV_CA: dav.caPem,
    DAV_OTHER_CA: dav.otherCaPem,
  };
}

export const login = {
  usernameSecret: { env: "DAV_USERNAME" },
  passwordSecret: { env: "DAV_PASSWORD" },
};

/** A fresh folder name, so that tests never see each other's keys. */
export function fresh(name = "t"): string {
  return `${name}-${randomBytes(4).toString("hex")}`;
}

/**
 * A configuration as YAML lines of `field: <JSON value>` (JSON values are
 * YAML); fields set to undefined are left out.
 */
export function configuration(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join("\n");
}

/** Basic authentication on Apache's /basic/ folder, under `prefix`. */
export function apacheBasic(prefix = "", fields: Record<string, unknown> = {}): string {
  return configuration({ url: `${backend().apache}/basic/${prefix}`, ...login, ...fields });
}

/** Starts the real plugin on a fresh socket. */
export async function startPlugin(env: Record<string, string> = {}): Promise<TestPlugin> {
  return TestPlugin.start(ENTRYPOINT, { env: { ...pluginEnv(), ...env }, pluginName: "webdav" });
}
