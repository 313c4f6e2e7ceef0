import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";
import { createBucket } from "./backend.js";
import { configuration, entrypoint, generateServiceAccountKey } from "./plugin.js";

const MiB = 1024 * 1024;
/** `url` with its host:port replaced by the fault proxy's `address`. */
const via = (url: string, address: string) => url.replace(new URL(url).host, address);

describeConformance({
  driver: "gcs",
  entrypoint,
  configuration: async () => {
    await createBucket(inject("endpoint"), "conformance");
    // Small listing pages: the emulator answers in one page unless asked, and
    // every listing the kit makes should span several.
    return configuration({ bucket: "conformance", listPageSize: 50 });
  },
  // fake-gcs-server through the kit's Toxiproxy, for the network-fault cases.
  network: {
    upstream: new URL(inject("endpoint")).host,
    configuration: (address) =>
      configuration({
        bucket: "conformance",
        listPageSize: 50,
        endpoint: via(inject("endpoint"), address),
      }),
  },
  // Over 100 MiB and over resumableThreshold: a resumable upload, in one request.
  largeFileBytes: 110 * MiB,
  kubernetesSecrets: {
    // fake-gcs-server checks no credentials: this proves the key is read from
    // the Secret, parsed and used to build the client (every request then
    // carries a token signed with it; gcs.test.ts verifies that signature).
    values: { serviceAccountKeySecret: generateServiceAccountKey().json },
    configuration: async (refs) => {
      await createBucket(inject("endpoint"), "conformance-secrets");
      return configuration({
        bucket: "conformance-secrets",
        listPageSize: 50,
        serviceAccountKeySecret: refs.serviceAccountKeySecret,
      });
    },
  },
});
