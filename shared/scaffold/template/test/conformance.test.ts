import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";

// Every scenario of the kit, against the backend test/global-setup.ts started.
// BACKEND: once the driver has secret fields, add `kubernetesSecrets` (their
// values, and a configuration using the `{name, key}` references the kit gives)
// so the kit also reads them through its Kubernetes API stand-in.
// BACKEND: once the driver talks to a server, replace `network` with the
// server's address and a configuration through a given host:port, so the kit
// puts its fault proxy (Toxiproxy) between them: see drivers/s3's test.
describeConformance({
  driver: "__name__",
  entrypoint: join(import.meta.dirname, "../dist/main.js"),
  configuration: async () => {
    const { root } = inject("backend");
    return `root: ${await mkdtemp(join(root, "conformance-"))}`;
  },
  network: { notApplicable: "a local folder: no network between the driver and its storage" },
});
