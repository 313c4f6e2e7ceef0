import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance } from "@argo-artifact-drivers/conformance";

describeConformance({
  driver: "local",
  entrypoint: join(import.meta.dirname, "../dist/main.js"),
  configuration: async () => `root: ${await mkdtemp(join(tmpdir(), "local-driver-"))}`,
});
