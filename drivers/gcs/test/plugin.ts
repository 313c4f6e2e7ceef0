import { generateKeyPairSync, randomBytes } from "node:crypto";
import { join } from "node:path";
import { TestPlugin } from "@argo-artifact-drivers/conformance";
import { Storage } from "@google-cloud/storage";
import { PassThroughClient } from "google-auth-library";
import { inject } from "vitest";

export const entrypoint = join(import.meta.dirname, "../dist/main.js");

/**
 * A configuration for the emulator, as YAML lines of `field: <JSON value>`
 * (JSON values are YAML). Anonymous unless the fields bring a key: the
 * emulator checks no credentials.
 */
export function configuration(fields: Record<string, unknown>): string {
  const anonymous = fields.serviceAccountKeySecret === undefined ? { anonymous: true } : {};
  const all = { endpoint: inject("endpoint"), ...anonymous, ...fields };
  return Object.entries(all)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join("\n");
}

/** The SDK talking to an emulator directly, to check what the plugin left there. */
export function verifier(endpoint = inject("endpoint")): Storage {
  return new Storage({
    apiEndpoint: endpoint,
    projectId: "test-project",
    authClient: new PassThroughClient(),
    useAuthWithCustomEndpoint: true,
    retryOptions: { autoRetry: false },
  });
}

export interface GeneratedKey {
  /** The service-account JSON key, as `gcloud iam service-accounts keys create` writes it. */
  json: string;
  /** PEM of the public half, to verify what was signed with it. */
  publicKey: string;
  clientEmail: string;
  privateKeyId: string;
}

/** A new RSA 2048 service-account key of a made-up account. */
export function generateServiceAccountKey(project = "argo-tests"): GeneratedKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const clientEmail = `artifacts@${project}.iam.gserviceaccount.com`;
  const privateKeyId = randomBytes(20).toString("hex");
  const json = JSON.stringify({
    type: "service_account",
    project_id: project,
    private_key_id: privateKeyId,
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
    client_email: clientEmail,
    client_id: String(100_000_000_000_000_000_000n + BigInt(randomBytes(4).readUInt32BE())),
    auth_uri: "https://accounts.google.com/o/oauth2/auth",
    token_uri: "https://oauth2.googleapis.com/token",
    auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
    universe_domain: "googleapis.com",
  });
  return {
    json,
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
    clientEmail,
    privateKeyId,
  };
}

/** The real plugin on a socket in a fresh folder, allowed `{env}` and `{file}` secret references. */
export function startPlugin(env: Record<string, string> = {}): Promise<TestPlugin> {
  return TestPlugin.start(entrypoint, {
    env: { ARTIFACT_DRIVER_SECRET_SOURCES: "env,file", ...env },
    pluginName: "gcs",
  });
}

export async function timed<T>(call: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await call;
  return [result, performance.now() - started];
}
