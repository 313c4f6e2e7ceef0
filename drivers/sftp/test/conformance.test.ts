import { readFileSync } from "node:fs";
import { describeConformance } from "@argo-artifact-drivers/conformance";
import { backend, configuration, entrypoint, freshBase, secretEnvironment } from "./plugin.js";

const sftp = backend();

describeConformance({
  driver: "sftp",
  entrypoint,
  env: secretEnvironment(),
  configuration: () => configuration({ basePath: freshBase() }),
  // A password login with the host key pinned by known_hosts, both from {name, key} references.
  kubernetesSecrets: {
    values: {
      passwordSecret: sftp.password,
      knownHostsSecret: readFileSync(sftp.files.knownHosts, "utf8"),
    },
    configuration: (refs) =>
      configuration({
        basePath: freshBase(),
        passwordSecret: refs.passwordSecret,
        knownHostsSecret: refs.knownHostsSecret,
      }),
  },
});
