import { defineDriver, secretRef } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "s3";

const MiB = 1024 * 1024;

/**
 * The fields of Argo's own S3 artifact repository, so that a `s3:` block can
 * be pasted into `configuration:` as it is, plus the transfer tuning a plugin
 * needs. Argo's `key` is not here: the key comes with the artifact.
 */
export const s3Config = {
  endpoint: z
    .string()
    .min(1)
    .optional()
    .describe(
      "S3 endpoint as host[:port] (scheme from `insecure`) or a full URL; omit for AWS S3 in `region`",
    ),
  bucket: z.string().min(3).max(255).describe("Bucket holding the artifacts"),
  region: z
    .string()
    .min(1)
    .default("us-east-1")
    .describe("Region to sign requests for (and of the AWS endpoint when `endpoint` is omitted)"),
  insecure: z
    .boolean()
    .default(false)
    .describe("Use plain HTTP instead of HTTPS when `endpoint` has no scheme"),
  addressingStyle: z
    .enum(["path", "virtual-hosted"])
    .optional()
    .describe(
      "`path` (https://host/bucket/key) or `virtual-hosted` (https://bucket.host/key); default: virtual-hosted for AWS, path for other endpoints",
    ),
  accessKeySecret: secretRef()
    .optional()
    .describe("Secret holding the access key ID (static credentials)"),
  secretKeySecret: secretRef()
    .optional()
    .describe("Secret holding the secret access key (static credentials)"),
  sessionTokenSecret: secretRef()
    .optional()
    .describe("Secret holding a session token that goes with temporary static credentials"),
  roleARN: z
    .string()
    .min(1)
    .optional()
    .describe(
      "IAM role to assume with STS; signed with the static keys when given, else the SDK's default chain",
    ),
  roleSessionName: z
    .string()
    .min(2)
    .max(64)
    .default("argo-artifact-driver")
    .describe("Session name of the assumed role, as seen in CloudTrail"),
  stsEndpoint: z
    .string()
    .min(1)
    .optional()
    .describe(
      "STS endpoint URL for `roleARN` (e.g. a MinIO's own endpoint); default: the regional AWS STS endpoint",
    ),
  useSDKCreds: z
    .boolean()
    .default(false)
    .describe(
      "Use the AWS SDK's default credential chain (IRSA, EKS pod identity, instance role, AWS_* variables) when no static keys are given",
    ),
  caSecret: secretRef()
    .optional()
    .describe(
      "Secret holding PEM CA certificates trusted for the endpoint, besides the system ones",
    ),
  encryptionOptions: z
    .strictObject({
      enableEncryption: z
        .boolean()
        .default(false)
        .describe("Server-side encryption: SSE-KMS when `kmsKeyId` is set, else SSE-S3 (AES256)"),
      kmsKeyId: z.string().min(1).optional().describe("KMS key ID or ARN for SSE-KMS"),
      kmsEncryptionContext: z
        .string()
        .min(1)
        .optional()
        .describe('SSE-KMS encryption context as a JSON object of strings, e.g. \'{"team":"a"}\''),
      serverSideCustomerKeySecret: secretRef()
        .optional()
        .describe(
          "Secret holding a 32-byte key (raw or base64) for SSE-C; not with `enableEncryption`",
        ),
    })
    .optional()
    .describe("Server-side encryption of saved objects"),
  createBucketIfNotPresent: z
    .strictObject({
      objectLocking: z
        .boolean()
        .default(false)
        .describe("Create the bucket with S3 Object Lock enabled"),
    })
    .optional()
    .describe("Create the bucket on first use when it does not exist"),
  storageClass: z
    .string()
    .min(1)
    .optional()
    .describe("Storage class of saved objects (STANDARD, STANDARD_IA, INTELLIGENT_TIERING, ...)"),
  partSize: z
    .number()
    .int()
    .min(5 * MiB)
    .max(5 * 1024 * MiB)
    .default(16 * MiB)
    .describe(
      "Bytes per multipart upload part and per ranged download; files up to this size go in one request",
    ),
  uploadConcurrency: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(4)
    .describe("Parts of one file uploaded at once"),
  downloadConcurrency: z
    .number()
    .int()
    .min(1)
    .max(64)
    // One streamed GET, as Argo's own S3 driver does: servers that read the
    // whole object for every ranged GET (moto) slow down with more.
    .default(1)
    .describe(
      "Ranges of one object larger than `partSize` downloaded at once; 1 downloads it in one streamed GET",
    ),
  connectTimeoutSeconds: z
    .number()
    .min(1)
    .max(120)
    .default(5)
    .describe("How long to wait for a connection to the endpoint before reporting it unreachable"),
};

export type S3Config = z.output<z.ZodObject<typeof s3Config>>;

export const driver = defineDriver({
  name: DRIVER_NAME,
  config: s3Config,
  preload: () => import("./adapter.js"),
  async createAdapter(config, context) {
    // The AWS SDK is imported lazily so that the socket binds before it loads.
    const { S3Adapter } = await import("./adapter.js");
    return S3Adapter.create(config, context);
  },
});
