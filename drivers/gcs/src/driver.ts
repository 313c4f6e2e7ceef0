import { defineDriver, secretRef } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "gcs";

const MiB = 1024 * 1024;
/** Resumable upload chunks must be multiples of this (the JSON API's rule). */
const CHUNK_UNIT = 256 * 1024;

/**
 * The fields of Argo's own `gcs:` artifact repository (`bucket`,
 * `serviceAccountKeySecret`), so that such a block can be pasted into
 * `configuration:` as it is, plus what Argo's driver lacks. Argo's `key` is
 * not here: the key comes with the artifact.
 */
export const gcsConfig = {
  bucket: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/,
      "must be a GCS bucket name: 3-222 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    )
    .describe("Bucket holding the artifacts; it must exist"),
  serviceAccountKeySecret: secretRef()
    .optional()
    .describe(
      "Secret holding a service-account JSON key (type service_account); without it, Application Default Credentials (GKE Workload Identity) are used",
    ),
  anonymous: z
    .boolean()
    .default(false)
    .describe(
      "Send no credentials at all: for emulators such as fake-gcs-server and for public buckets; not with serviceAccountKeySecret",
    ),
  endpoint: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
    .optional()
    .describe(
      "JSON API endpoint, e.g. https://storage-myendpoint.p.googleapis.com (Private Service Connect) or http://fake-gcs:4443 (emulator); default https://storage.googleapis.com",
    ),
  projectId: z
    .string()
    .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be a Google Cloud project ID")
    .optional()
    .describe(
      "Project the client is attributed to; object calls do not need it (default: the key's project_id, else the environment's)",
    ),
  resumableThreshold: z
    .number()
    .int()
    .min(0)
    .default(8 * MiB)
    .describe(
      "Files larger than this many bytes go up as resumable uploads, smaller ones in a single multipart request; streams of unknown size are always resumable",
    ),
  chunkSize: z
    .number()
    .int()
    .min(CHUNK_UNIT)
    .multipleOf(CHUNK_UNIT, "must be a multiple of 256 KiB (262144)")
    .optional()
    .describe(
      "Bytes per request of a resumable upload, each buffered in memory (for proxies that limit request sizes); default: the whole upload in one request, the fastest",
    ),
  storageClass: z
    .enum(["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"])
    .optional()
    .describe("Storage class of saved objects; default: the bucket's default class"),
  encryptionKeySecret: secretRef()
    .optional()
    .describe(
      "Secret holding a customer-supplied AES-256 encryption key (CSEK): 32 bytes, raw or base64-encoded; every save and load then uses it. Not with kmsKeyName",
    ),
  kmsKeyName: z
    .string()
    .regex(
      /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/,
      "must be projects/P/locations/L/keyRings/R/cryptoKeys/K",
    )
    .optional()
    .describe(
      "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts saved objects (CMEK); not with encryptionKeySecret",
    ),
  listPageSize: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(1000)
    .describe("Objects per listing request (the JSON API returns at most 1,000)"),
  connectTimeoutSeconds: z
    .number()
    .min(1)
    .max(120)
    .default(5)
    .describe(
      "How long to wait for a connection (and TLS handshake) to the endpoint before reporting it unreachable",
    ),
};

export type GcsConfig = z.output<z.ZodObject<typeof gcsConfig>>;

export const driver = defineDriver({
  name: DRIVER_NAME,
  config: gcsConfig,
  preload: () => import("./adapter.js"),
  async createAdapter(config, context) {
    // The Google SDK is imported lazily so that the socket binds before it loads.
    const { GcsAdapter } = await import("./adapter.js");
    return GcsAdapter.create(config, context);
  },
});
