import { describeConformance } from "@argo-artifact-drivers/conformance";
import { inject } from "vitest";
import { configuration, entrypoint, secretEnvironment } from "./plugin.js";

const writer = inject("identities").writer;
/** `url` with its host:port replaced by the fault proxy's `address`. */
const via = (url: string, address: string) => url.replace(new URL(url).host, address);

describeConformance({
  driver: "s3",
  entrypoint,
  configuration: () => configuration({ bucket: "conformance", createBucketIfNotPresent: {} }),
  env: secretEnvironment(),
  // moto through the kit's Toxiproxy, for the network-fault cases.
  network: {
    upstream: new URL(inject("endpoint")).host,
    configuration: (address) =>
      configuration({
        bucket: "conformance",
        createBucketIfNotPresent: {},
        endpoint: via(inject("endpoint"), address),
      }),
  },
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
