import { createPrivateKey } from "node:crypto";
import { type AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import { type CRC32CValidator, Storage, type StorageOptions } from "@google-cloud/storage";
import { type AuthClient, GoogleAuth, JWT, PassThroughClient } from "google-auth-library";
import { crc32c } from "./crc32c.js";
import type { GcsConfig } from "./driver.js";
import { installAgents, setConnectTimeout } from "./http.js";

const DEFAULT_ENDPOINT = "https://storage.googleapis.com";
/** Objects only: read, write, delete, list. Enough for artifacts, less than full_control. */
export const SCOPE = "https://www.googleapis.com/auth/devstorage.read_write";

/** Where requests go, as resolved from `endpoint`. */
export interface Endpoint {
  /** The URL given to the SDK; undefined for Google's own endpoint. */
  url: string | undefined;
  /** How the endpoint reads in messages. */
  display: string;
}

export function resolveEndpoint(config: GcsConfig): Endpoint {
  if (config.endpoint === undefined) return { url: undefined, display: DEFAULT_ENDPOINT };
  const origin = new URL(config.endpoint).origin;
  if (origin === DEFAULT_ENDPOINT) return { url: undefined, display: DEFAULT_ENDPOINT };
  return { url: origin, display: origin };
}

/** What a service-account JSON key must hold for the driver to sign with it. */
interface ServiceAccountKey {
  type: "service_account";
  client_email: string;
  private_key: string;
  private_key_id?: string;
  project_id?: string;
}

/**
 * Argo's rule: `serviceAccountKeySecret` holds a service-account JSON key.
 * Checked here so that a wrong secret says what is wrong with it, never what
 * it contains.
 */
export function parseServiceAccountKey(text: string, where: string): ServiceAccountKey {
  const refuse = (why: string) =>
    new DriverError("invalid-config", `the service-account key in ${where} ${why}`, {
      hint: "Put the JSON key of a Google service account (created with `gcloud iam service-accounts keys create`) in that Secret, or leave serviceAccountKeySecret out to use Workload Identity.",
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse("is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw refuse("is not a JSON object");
  }
  const key = parsed as Record<string, unknown>;
  if (key.type !== "service_account") {
    const type = typeof key.type === "string" ? `"${key.type}"` : "missing";
    throw refuse(`has type ${type}; only "service_account" keys are supported`);
  }
  for (const field of ["client_email", "private_key"] as const) {
    if (typeof key[field] !== "string" || key[field] === "") {
      throw refuse(`has no "${field}"`);
    }
  }
  try {
    createPrivateKey(key.private_key as string);
  } catch {
    throw refuse('has a "private_key" that is not a PEM private key');
  }
  return key as unknown as ServiceAccountKey;
}

/**
 * The credentials of one configuration: a service-account key signs its own
 * tokens; without one, Application Default Credentials (Workload Identity on
 * GKE) are looked up once, here, so that their absence fails the first call
 * clearly instead of every request going out unauthenticated.
 */
async function credentials(
  config: GcsConfig,
  context: AdapterContext,
): Promise<{ authClient: AuthClient | GoogleAuth; projectId?: string }> {
  const { serviceAccountKeySecret: keySecret } = config;
  if (config.anonymous) {
    if (keySecret) {
      throw new DriverError(
        "invalid-config",
        'fields "anonymous" and "serviceAccountKeySecret" cannot be used together',
      );
    }
    return { authClient: new PassThroughClient() };
  }
  if (keySecret) {
    const key = parseServiceAccountKey(context.secret(keySecret), `${keySecret}`);
    const jwt = new JWT({
      email: key.client_email,
      key: key.private_key,
      ...(key.private_key_id ? { keyId: key.private_key_id } : {}),
      scopes: [SCOPE],
    });
    // A self-signed JWT with the scope (Google's AIP-4111): no round trip to
    // oauth2.googleapis.com, so private endpoints work without reaching it.
    jwt.useJWTAccessWithScope = true;
    return { authClient: jwt, ...(key.project_id ? { projectId: key.project_id } : {}) };
  }
  context.checkAmbientCredentials(
    "serviceAccountKeySecret",
    "Application Default Credentials (Workload Identity, the metadata server, GOOGLE_APPLICATION_CREDENTIALS) because it is not set",
  );
  const auth = new GoogleAuth({ scopes: [SCOPE] });
  try {
    await auth.getClient();
  } catch (cause) {
    throw new DriverError(
      "permission-denied",
      `no credentials: serviceAccountKeySecret is not set and Application Default Credentials were not found (${message(cause)})`,
      {
        cause,
        hint: "Set serviceAccountKeySecret to a Secret holding a service-account JSON key, bind the pod's Kubernetes service account to a Google service account (Workload Identity), or set anonymous: true for an emulator.",
      },
    );
  }
  return { authClient: auth };
}

/** Builds the one Storage client an adapter uses for all its calls. */
export async function createStorage(
  config: GcsConfig,
  endpoint: Endpoint,
  context: AdapterContext,
): Promise<Storage> {
  installAgents();
  setConnectTimeout(new URL(endpoint.url ?? DEFAULT_ENDPOINT), config.connectTimeoutSeconds * 1000);
  const { authClient, projectId } = await credentials(config, context);
  const options: StorageOptions = {
    authClient,
    // Custom endpoints are private endpoints as often as emulators: credentials
    // go to them too, unless the configuration says `anonymous`.
    useAuthWithCustomEndpoint: true,
    // The SDK's own retries would resume a broken resumable upload, which
    // emulators answer by committing the partial object; the core retries
    // whole transfers instead, each with a new upload session.
    retryOptions: { autoRetry: false, maxRetries: 0 },
    crc32cGenerator: fastCrc32c,
  };
  const project = config.projectId ?? projectId;
  if (project) options.projectId = project;
  if (endpoint.url) options.apiEndpoint = endpoint.url;
  const storage = new Storage(options);
  // Requests through Node's global agents, which bound the connection time (see http.ts).
  type Interceptor = Storage["interceptors"][number];
  storage.interceptors.push({
    request: (request) =>
      Object.assign(request, { forever: false }) as ReturnType<Interceptor["request"]>,
  });
  return storage;
}

/** The SDK's CRC32C interface over ./crc32c.js: 7-60x faster than the SDK's own. */
export class FastCrc32c implements CRC32CValidator {
  private value = 0;

  update(data: Buffer): void {
    this.value = crc32c(data, this.value);
  }

  toString(): string {
    return encodeCrc32c(this.value);
  }

  validate(expected: string): boolean {
    return expected === this.toString();
  }
}

export const fastCrc32c = () => new FastCrc32c();

/** The JSON API's form of a CRC32C: base64 of the 4 bytes, big-endian. */
export function encodeCrc32c(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes.toString("base64");
}

/** The SDK takes a CSEK as 32 raw bytes; Secrets may hold them raw or base64-encoded. */
export function customerKey(value: Buffer, where: string): Buffer {
  if (value.length === 32) return value;
  const text = value.toString("latin1").trim();
  const decoded = Buffer.from(text, "base64");
  if (decoded.length === 32 && decoded.toString("base64") === text) return decoded;
  throw new DriverError(
    "invalid-config",
    `the encryption key in ${where} must be 32 bytes, raw or base64-encoded (it has ${value.length} bytes)`,
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
