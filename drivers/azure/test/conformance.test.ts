import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";
import { configuration, entrypoint, secretEnvironment } from "./plugin.js";

const MiB = 1024 * 1024;

describeConformance({
  driver: "azure",
  entrypoint,
  // Small listing pages, so that every listing the kit makes spans several pages.
  configuration: () => configuration({ container: "conformance", listPageSize: 50 }),
  env: secretEnvironment(),
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
