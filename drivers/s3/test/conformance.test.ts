import { describeConformance } from "@argo-artifact-drivers/conformance";
import { configuration, entrypoint, secretEnvironment } from "./plugin.js";

describeConformance({
  driver: "s3",
  entrypoint,
  configuration: () => configuration({ bucket: "conformance", createBucketIfNotPresent: {} }),
  env: secretEnvironment(),
});
