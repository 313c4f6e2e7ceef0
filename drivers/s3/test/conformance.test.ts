import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";
import { configuration, entrypoint, secretEnvironment } from "./plugin.js";

const writer = inject("identities").writer;

describeConformance({
  driver: "s3",
  entrypoint,
  configuration: () => configuration({ bucket: "conformance", createBucketIfNotPresent: {} }),
  env: secretEnvironment(),
  // Argo's accessKeySecret/secretKeySecret as {name, key} references, read from the Kubernetes API.
  kubernetesSecrets: {
    values: { accessKeySecret: writer.accessKeyId, secretKeySecret: writer.secretAccessKey },
    configuration: (refs) =>
      configuration({
        bucket: "k8s-secrets",
        createBucketIfNotPresent: {},
        accessKeySecret: refs.accessKeySecret,
        secretKeySecret: refs.secretKeySecret,
      }),
  },
});
