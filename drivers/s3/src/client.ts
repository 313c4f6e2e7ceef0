import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { type AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { fromNodeProviderChain, fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { S3Config } from "./driver.js";

/** Where requests go, as resolved from `endpoint`, `insecure`, `region` and `addressingStyle`. */
export interface Endpoint {
  /** The URL given to the SDK; undefined for AWS S3's own regional endpoint. */
  url: string | undefined;
  /** How the endpoint reads in messages. */
  display: string;
  /** AWS S3 itself (checksums and virtual-hosted addressing as the SDK defaults). */
  aws: boolean;
  forcePathStyle: boolean;
}

export function resolveEndpoint(config: S3Config): Endpoint {
  const defaultAws = {
    url: undefined,
    display: `AWS S3 (${config.region})`,
    aws: true,
    forcePathStyle: config.addressingStyle === "path",
  };
  if (config.endpoint === undefined) return defaultAws;
  const text = config.endpoint.includes("://")
    ? config.endpoint
    : `${config.insecure ? "http" : "https"}://${config.endpoint}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new DriverError(
      "invalid-config",
      `endpoint "${config.endpoint}" is not a host[:port] or URL`,
      { cause },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new DriverError("invalid-config", `endpoint "${config.endpoint}" must use http or https`);
  }
  const aws = /\.amazonaws\.com(\.cn)?$/.test(url.hostname);
  // Argo's documented AWS endpoint is the global one; the SDK's regional one avoids redirects.
  if (url.hostname === "s3.amazonaws.com" && url.protocol === "https:") return defaultAws;
  const origin = url.href.replace(/\/$/, "");
  return {
    url: origin,
    display: origin,
    aws,
    forcePathStyle: config.addressingStyle ? config.addressingStyle === "path" : !aws,
  };
}

/** Builds the one S3 client an adapter uses for all its calls. */
export function createClient(
  config: S3Config,
  endpoint: Endpoint,
  context: AdapterContext,
): S3Client {
  const handler = () => requestHandler(config, context);
  const options: S3ClientConfig = {
    region: config.region,
    forcePathStyle: endpoint.forcePathStyle,
    credentials: credentials(config, endpoint, context, handler),
    // The core retries whole operations with backoff; SDK retries on top would
    // multiply the wait before an unreachable endpoint is reported.
    maxAttempts: 1,
    requestHandler: handler(),
  };
  if (endpoint.url !== undefined) options.endpoint = endpoint.url;
  if (!endpoint.aws) {
    // Emulators and many S3-compatible stores mishandle the SDK's default
    // flexible checksums on streamed bodies: some store the aws-chunked
    // framing inside the object.
    options.requestChecksumCalculation = "WHEN_REQUIRED";
    options.responseChecksumValidation = "WHEN_REQUIRED";
  }
  if (!options.credentials && !config.useSDKCreds && !config.roleARN) {
    // Argo's rule: no keys and no SDK credentials means anonymous access.
    options.signer = { sign: async (request) => request };
    options.credentials = { accessKeyId: "", secretAccessKey: "" };
  }
  return new S3Client(options);
}

function requestHandler(config: S3Config, context: AdapterContext): NodeHttpHandler {
  const ca = config.caSecret ? [...rootCertificates, context.secret(config.caSecret)] : undefined;
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  return new NodeHttpHandler({
    connectionTimeout: config.connectTimeoutSeconds * 1000,
    // Idle socket limit: a stalled transfer fails (transient) instead of hanging.
    requestTimeout: 120_000,
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(ca ? { ...agentOptions, ca } : agentOptions),
  });
}

type Credentials = S3ClientConfig["credentials"];

/** Argo's order: static keys (with session token), then role assumption, then the SDK chain. */
function credentials(
  config: S3Config,
  endpoint: Endpoint,
  context: AdapterContext,
  handler: () => NodeHttpHandler,
): Credentials {
  const { accessKeySecret, secretKeySecret, sessionTokenSecret } = config;
  if ((accessKeySecret === undefined) !== (secretKeySecret === undefined)) {
    const missing = accessKeySecret === undefined ? "accessKeySecret" : "secretKeySecret";
    throw new DriverError(
      "invalid-config",
      `field "${missing}" is required with static credentials: set both accessKeySecret and secretKeySecret`,
    );
  }
  if (sessionTokenSecret !== undefined && accessKeySecret === undefined) {
    throw new DriverError(
      "invalid-config",
      'field "sessionTokenSecret" needs accessKeySecret and secretKeySecret beside it',
    );
  }
  const staticKeys =
    accessKeySecret && secretKeySecret
      ? {
          accessKeyId: context.secret(accessKeySecret),
          secretAccessKey: context.secret(secretKeySecret),
          ...(sessionTokenSecret ? { sessionToken: context.secret(sessionTokenSecret) } : {}),
        }
      : undefined;
  if (!staticKeys && config.roleARN) {
    context.checkAmbientCredentials(
      "roleARN",
      "the AWS SDK's default credential chain (IRSA, EKS Pod Identity, instance role, AWS_* variables) to assume the role",
    );
  } else if (!staticKeys && config.useSDKCreds) {
    context.checkAmbientCredentials(
      "useSDKCreds",
      "the AWS SDK's default credential chain (IRSA, EKS Pod Identity, instance role, AWS_* variables)",
    );
  }
  if (config.roleARN) {
    const stsEndpoint = config.stsEndpoint ?? (endpoint.aws ? undefined : endpoint.url);
    return fromTemporaryCredentials({
      params: { RoleArn: config.roleARN, RoleSessionName: config.roleSessionName },
      masterCredentials: staticKeys ?? fromNodeProviderChain(),
      clientConfig: {
        region: config.region,
        maxAttempts: 1,
        requestHandler: handler(),
        ...(stsEndpoint ? { endpoint: stsEndpoint } : {}),
      },
    });
  }
  return staticKeys;
}
