import { defineDriver, secretRef } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "azure";

const MiB = 1024 * 1024;

/** Azure's container naming rules, plus the special `$root` and `$web` containers. */
const CONTAINER_NAME = /^(?:\$root|\$web|(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9])$/;

/**
 * The fields of Argo's own `azure:` artifact repository, so that such a block
 * can be pasted into `configuration:` as it is, plus the transfer tuning a
 * plugin needs. Argo's `blob` is not here: the key comes with the artifact.
 */
export const azureConfig = {
  endpoint: z
    .string()
    .regex(/^https?:\/\//i, "must be a URL starting with https:// (or http:// for emulators)")
    .describe(
      "Account URL, e.g. https://myaccount.blob.core.windows.net; when the URL has a path (Azurite, emulators: http://azurite:10000/devstoreaccount1) its first segment is the account, on any host name",
    ),
  container: z
    .string()
    .regex(
      CONTAINER_NAME,
      "must be 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
    )
    .describe("Container holding the artifacts; it must exist"),
  accountKeySecret: secretRef()
    .optional()
    .describe(
      "Secret holding the storage account key, or a SAS token (detected by its query-string form, with or without a leading `?`)",
    ),
  useSDKCreds: z
    .boolean()
    .default(false)
    .describe(
      "Authenticate with the Azure SDK's DefaultAzureCredential (Workload Identity, managed identity, AZURE_* variables) instead of accountKeySecret; needs an https endpoint",
    ),
  caSecret: secretRef()
    .optional()
    .describe(
      "Secret holding PEM CA certificates trusted for the endpoint, besides the system ones (private CAs, emulators over HTTPS)",
    ),
  blockSize: z
    .number()
    .int()
    .min(1 * MiB)
    .max(4000 * MiB)
    .default(8 * MiB)
    .describe(
      "Bytes per staged block; files up to this size go in one request, larger ones as blocks staged in parallel (grown when a file would need more than 50,000 blocks; streams use at most 8 MiB blocks to bound memory)",
    ),
  uploadConcurrency: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(4)
    .describe("Blocks of one blob uploaded at once"),
  accessTier: z
    .enum(["Hot", "Cool", "Cold", "Archive"])
    .optional()
    .describe(
      "Access tier of saved blobs; default: the account's default tier. Archive blobs cannot be loaded until rehydrated",
    ),
  networkTimeoutSeconds: z
    .number()
    .min(1)
    .max(3600)
    .default(60)
    .describe(
      "How long a connection may stay silent (connecting, or waiting for data) before it is dropped; a download then resumes where it stopped",
    ),
  listPageSize: z
    .number()
    .int()
    .min(1)
    .max(5000)
    .default(5000)
    .describe("Blobs per listing request (the service returns at most 5,000)"),
};

export type AzureConfig = z.output<z.ZodObject<typeof azureConfig>>;

export const driver = defineDriver({
  name: DRIVER_NAME,
  config: azureConfig,
  preload: () => import("./adapter.js"),
  async createAdapter(config, context) {
    // The Azure SDK is imported lazily so that the socket binds before it loads.
    const { AzureAdapter } = await import("./adapter.js");
    return AzureAdapter.create(config, context);
  },
});
