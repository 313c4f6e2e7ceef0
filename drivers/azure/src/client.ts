import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Socket } from "node:net";
import { rootCertificates } from "node:tls";
import { type AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import type { TokenCredential } from "@azure/core-auth";
import {
  AnonymousCredential,
  BlobServiceClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import type { AzureConfig } from "./driver.js";

/** Where the account lives, parsed once from `endpoint`. */
export interface Endpoint {
  /** The account URL the SDK addresses, without query. */
  readonly url: string;
  readonly account: string;
  readonly https: boolean;
}

/**
 * Reads the account from an account URL: the first path segment when there is
 * one (Azurite and other emulators put the account in the path, whatever the
 * host is called, e.g. a Kubernetes Service named `azurite`), otherwise the
 * first label of the host name (`myaccount.blob.core.windows.net`).
 */
export function parseEndpoint(endpoint: string): Endpoint {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid(`endpoint "${endpoint}" is not a URL`);
  }
  if (url.username || url.password) {
    throw invalid("endpoint must not contain credentials; use accountKeySecret");
  }
  if (url.search || url.hash) {
    throw invalid(
      "endpoint must not have a query: put a SAS token in the Secret of accountKeySecret instead",
    );
  }
  const segments = url.pathname.split("/").filter(Boolean);
  if (segments.length > 1) {
    throw invalid(
      `endpoint "${url.origin}${url.pathname}" has more than an account in its path; give the container in \`container\``,
    );
  }
  const account = segments[0] ?? url.hostname.split(".")[0] ?? "";
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    throw invalid(
      `cannot read a storage account name from endpoint "${url.origin}${url.pathname}" (got "${account}"); use https://<account>.blob.core.windows.net, or http://host:port/<account> for emulators`,
    );
  }
  const path = segments.length === 1 ? `/${segments[0]}` : "";
  return { url: `${url.origin}${path}`, account, https: url.protocol === "https:" };
}

/** A SAS token is a query string (`sv=...&sig=...`); an account key is base64, which has no `&`. */
export function isSasToken(secret: string): boolean {
  return secret.startsWith("?") || secret.includes("&") || /^sig=/i.test(secret);
}

export interface ClientOptions {
  /** A token credential used instead of the configured ones (tests, embedding). */
  credential?: TokenCredential;
}

export interface Client {
  readonly service: BlobServiceClient;
  readonly endpoint: Endpoint;
  /** How the client authenticates, for logs: never the secret. */
  readonly auth: "account key" | "SAS token" | "token credential" | "DefaultAzureCredential";
  close(): void;
}

/**
 * Builds the service client. The SDK's own retries are off: the core retries
 * whole calls and the adapter retries single blocks and ranges under the
 * user's policy, so failures are not retried twice over. Connections go
 * through our own agent, which trusts `caSecret` and is destroyed on close.
 */
export async function createClient(
  config: AzureConfig,
  context: AdapterContext,
  options: ClientOptions = {},
): Promise<Client> {
  const endpoint = parseEndpoint(config.endpoint);
  if (config.useSDKCreds && config.accountKeySecret) {
    throw invalid("set either accountKeySecret or useSDKCreds: true, not both");
  }
  const ca = config.caSecret ? context.secret(config.caSecret) : undefined;
  if (ca !== undefined && !ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw invalid(`${config.caSecret} does not hold a PEM certificate`);
  }
  const agent = endpoint.https
    ? new HttpsAgent({
        keepAlive: true,
        ca: ca === undefined ? undefined : [...rootCertificates, ca],
      })
    : new HttpAgent({ keepAlive: true });
  timeoutSockets(agent, config.networkTimeoutSeconds * 1000);
  // `agent` is passed through to the HTTP pipeline; StoragePipelineOptions does not declare it.
  const pipeline: StoragePipelineOptions & { agent: HttpAgent } = {
    agent,
    retryOptions: { maxTries: 1 },
    userAgentOptions: { userAgentPrefix: "argo-artifact-driver-azure" },
  };
  const close = () => agent.destroy();

  let token = options.credential;
  let auth: Client["auth"] = "token credential";
  if (!token && config.useSDKCreds) {
    context.checkAmbientCredentials(
      "useSDKCreds",
      "the Azure SDK's DefaultAzureCredential (Workload Identity, managed identity, AZURE_* variables)",
    );
    // Loaded only when used: @azure/identity is large.
    const { DefaultAzureCredential } = await import("@azure/identity");
    token = new DefaultAzureCredential();
    auth = "DefaultAzureCredential";
  }
  if (token) {
    if (!endpoint.https) {
      close();
      throw invalid(
        "useSDKCreds needs an https:// endpoint: Azure AD tokens are only sent over TLS",
      );
    }
    return { service: new BlobServiceClient(endpoint.url, token, pipeline), endpoint, auth, close };
  }

  if (!config.accountKeySecret) {
    close();
    throw invalid(
      "no credentials: set accountKeySecret (an account key or a SAS token) or useSDKCreds: true",
    );
  }
  const secret = context.secret(config.accountKeySecret).trim();
  if (isSasToken(secret)) {
    const sas = secret.replace(/^\?/, "");
    if (!/(^|&)sig=[^&]+/.test(sas)) {
      close();
      throw invalid(
        `${config.accountKeySecret} looks like a SAS token (a query string) but has no sig= parameter`,
      );
    }
    const service = new BlobServiceClient(
      `${endpoint.url}?${sas}`,
      new AnonymousCredential(),
      pipeline,
    );
    return { service, endpoint, auth: "SAS token", close };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || Buffer.from(secret, "base64").length < 16) {
    close();
    throw invalid(
      `${config.accountKeySecret} holds neither a base64 account key nor a SAS token (sv=...&sig=...)`,
    );
  }
  const credential = new StorageSharedKeyCredential(endpoint.account, secret);
  return {
    service: new BlobServiceClient(endpoint.url, credential, pipeline),
    endpoint,
    auth: "account key",
    close,
  };
}

/** Code of a connection that was not established in time: the endpoint is unreachable. */
export const CONNECT_TIMEOUT = "ECONNECTTIMEOUT";

/**
 * Ends connections that go silent: the SDK sets no timeout on a response
 * body, so a connection that stops delivering (a dead peer, a dropped NAT
 * entry) would hang a call forever. A connection that never opens fails
 * with CONNECT_TIMEOUT (unavailable), one that stalls later with ETIMEDOUT
 * (transient: retried, and a download resumes where it stopped).
 */
function timeoutSockets(agent: HttpAgent, ms: number): void {
  const arm = (socket: Socket) =>
    socket.setTimeout(ms, () => {
      const connecting = socket.connecting;
      const error = new Error(
        connecting
          ? `no connection within ${ms / 1000} s (networkTimeoutSeconds)`
          : `no data for ${ms / 1000} s (networkTimeoutSeconds)`,
      );
      socket.destroy(Object.assign(error, { code: connecting ? CONNECT_TIMEOUT : "ETIMEDOUT" }));
    });
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback);
    if (socket instanceof Socket) arm(socket);
    return socket;
  };
  // Idle sockets in the pool get Node's own timeout (from the server's
  // keep-alive hint); a socket taken from the pool gets ours again.
  const reuse = agent.reuseSocket.bind(agent);
  agent.reuseSocket = (socket, request) => {
    reuse(socket, request);
    if (socket instanceof Socket) arm(socket);
  };
}

function invalid(message: string): DriverError {
  return new DriverError("invalid-config", message);
}
