import { describeConformance } from "@argo-artifact-drivers/conformance";
import { configuration, ENTRYPOINT, freshBase, PLUGIN_ENV } from "./helpers.js";

describeConformance({
  driver: "sftp",
  entrypoint: ENTRYPOINT,
  env: PLUGIN_ENV,
  configuration: async () => configuration({ basePath: await freshBase() }),
});
