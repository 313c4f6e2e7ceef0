import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";
import { configuration, entrypoint, secretEnvironment } from "./plugin.js";

const MiB = 1024 * 1024;
/** `url` with its host:port replaced by the fault proxy's `address`. */
const via = (url: string, address: string) => url.replace(new URL(url).host, address);

describeConformance({
  driver: "azure",
  entrypoint,
  // Small listing pages, so that every listing the kit makes spans several pages.
  configuration: () => configuration({ container: "conformance", listPageSize: 50 }),
  env: secretEnvironment(),
  // Azurite through the kit's Toxiproxy; networkTimeoutSeconds ends a silent connection.
  network: {
    upstream: new URL(inject("endpoint")).host,
    configuration: (address) =>
      configuration({
        container: "conformance",
        listPageSize: 50,
        endpoint: via(inject("endpoint"), address),
      }),
    silenceTimeoutField: "networkTimeoutSeconds",
  },
  // Over 100 MiB: staged as 14 blocks of the default 8 MiB, 4 at a time.
  largeFileBytes: 110 * MiB,
  kubernetesSecrets: {
    // A SAS token scoped to one container, as a Secret would hold it.
    values: { accountKeySecret: inject("containerSas") },
    configuration: (refs) =>
      configuration({
        container: "sas-only",
        listPageSize: 50,
        accountKeySecret: refs.accountKeySecret,
      }),
  },
});
