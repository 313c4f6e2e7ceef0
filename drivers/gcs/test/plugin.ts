import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { PluginProcess } from "@argo-artifact-drivers/conformance";
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

/** The real plugin process on a socket in a fresh folder, and clients for it. */
export class Plugin {
  private readonly clients: ArtifactClient[] = [];

  private constructor(
    readonly process: PluginProcess,
    readonly work: string,
  ) {}

  static async start(env: Record<string, string> = {}): Promise<Plugin> {
    const work = await mkdtemp(join(tmpdir(), "gcs-"));
    const process = await PluginProcess.start(entrypoint, join(work, "socket"), {
      ARTIFACT_DRIVER_SECRET_SOURCES: "env,file",
      ...env,
    });
    return new Plugin(process, work);
  }

  client(configuration: string): ArtifactClient {
    const client = this.process.client(configuration, "gcs");
    this.clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await this.process.stop();
    await rm(this.work, { recursive: true, force: true });
  }
}

/** The message of a call that must fail. */
export async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error("the call should have failed");
}

export async function timed<T>(call: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await call;
  return [result, performance.now() - started];
}
