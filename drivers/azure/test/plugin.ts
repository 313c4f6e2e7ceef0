import { join } from "node:path";
import { TestPlugin } from "@argo-artifact-drivers/conformance";
import {
  BlobServiceClient,
  type ContainerClient,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { inject } from "vitest";
import { DEV_ACCOUNT, DEV_KEY } from "./backend.js";

export const entrypoint = join(import.meta.dirname, "../dist/main.js");

/** Environment of the plugin process: the dev account key as an `{env}` secret reference. */
export function secretEnvironment(): Record<string, string> {
  return {
    ARTIFACT_DRIVER_SECRET_SOURCES: "env,file",
    AZURE_TEST_KEY: DEV_KEY,
    AZURE_TEST_SAS: inject("containerSas"),
    AZURE_WRONG_KEY: Buffer.alloc(64, 7).toString("base64"),
  };
}

/**
 * A configuration for the plain Azurite, as YAML lines of `field: <JSON
 * value>` (JSON values are YAML), so that more lines can be appended.
 */
export function configuration(fields: Record<string, unknown>): string {
  const all = {
    endpoint: inject("endpoint"),
    container: "tests",
    accountKeySecret: { env: "AZURE_TEST_KEY" },
    ...fields,
  };
  return Object.entries(all)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join("\n");
}

/** The SDK with the dev key, to check and tamper with what the plugin stored. */
export function container(name: string, endpoint = inject("endpoint")): ContainerClient {
  return new BlobServiceClient(
    endpoint,
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
  ).getContainerClient(name);
}

/** The real plugin on a socket in a fresh folder, with the test secrets in its environment. */
export function startPlugin(env: Record<string, string> = {}): Promise<TestPlugin> {
  return TestPlugin.start(entrypoint, {
    env: { ...secretEnvironment(), ...env },
    pluginName: "azure",
  });
}
