import { join } from "node:path";
import { TestPlugin } from "@argo-artifact-drivers/conformance";
import { S3Client } from "@aws-sdk/client-s3";
import { inject } from "vitest";

export const entrypoint = join(import.meta.dirname, "../dist/main.js");

/** Environment of the plugin process: the test identities as `{env}` secret references. */
export function secretEnvironment(): Record<string, string> {
  const ids = inject("identities");
  return {
    ARTIFACT_DRIVER_SECRET_SOURCES: "env,file",
    WRITER_ACCESS_KEY: ids.writer.accessKeyId,
    WRITER_SECRET_KEY: ids.writer.secretAccessKey,
    NOBODY_ACCESS_KEY: ids.nobody.accessKeyId,
    NOBODY_SECRET_KEY: ids.nobody.secretAccessKey,
    TEMP_ACCESS_KEY: ids.temporary.accessKeyId,
    TEMP_SECRET_KEY: ids.temporary.secretAccessKey,
    TEMP_SESSION_TOKEN: ids.temporary.sessionToken,
    WRONG_SECRET_KEY: "not-the-secret-key",
    UNKNOWN_ACCESS_KEY: "AKIAUNKNOWNUNKNOWN00",
  };
}

export const writerKeys = {
  accessKeySecret: { env: "WRITER_ACCESS_KEY" },
  secretKeySecret: { env: "WRITER_SECRET_KEY" },
};

/**
 * A configuration for the authenticated moto server, as YAML lines of
 * `field: <JSON value>` (JSON values are YAML), so that more lines can be appended.
 */
export function configuration(fields: Record<string, unknown>): string {
  const all = { endpoint: inject("endpoint"), ...writerKeys, ...fields };
  return Object.entries(all)
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join("\n");
}

/** The SDK signed as the writer, to check what the plugin left in the store. */
export function verifier(): S3Client {
  const ids = inject("identities");
  return new S3Client({
    endpoint: inject("endpoint"),
    region: "us-east-1",
    forcePathStyle: true,
    credentials: {
      accessKeyId: ids.writer.accessKeyId,
      secretAccessKey: ids.writer.secretAccessKey,
    },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** The real plugin on a socket in a fresh folder, with the test identities in its environment. */
export function startPlugin(env: Record<string, string> = {}): Promise<TestPlugin> {
  return TestPlugin.start(entrypoint, {
    env: { ...secretEnvironment(), ...env },
    pluginName: "s3",
  });
}
