import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";

// Every scenario of the kit, against a folder below the run's root. The local
// driver has no secret fields, so the Kubernetes Secret scenarios report "not run".
describeConformance({
  driver: "local",
  entrypoint: join(import.meta.dirname, "../dist/main.js"),
  configuration: async () => {
    const { root } = inject("backend");
    return `root: ${await mkdtemp(join(root, "conformance-"))}`;
  },
  network: { notApplicable: "a local folder: no network between the driver and its storage" },
});
