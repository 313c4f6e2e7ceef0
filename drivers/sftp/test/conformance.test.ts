import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance } from "@argo-artifact-drivers/conformance";
import { backend, configuration, entrypoint, freshBase, secretEnvironment } from "./plugin.js";

const sftp = backend();
/** The main configuration's base path, shared by the configuration through the fault proxy. */
let base = "";

/** known_hosts pinning the server's keys at the fault proxy's address instead. */
function knownHostsAt(address: string): string {
  const [host, port] = address.split(":");
  const file = join(tmpdir(), `known-hosts-${port}`);
  const pinned = readFileSync(sftp.files.knownHosts, "utf8").replaceAll(
    `[${sftp.host}]:${sftp.port}`,
    `[${host}]:${port}`,
  );
  writeFileSync(file, pinned);
  return file;
}

describeConformance({
  driver: "sftp",
  entrypoint,
  env: secretEnvironment(),
  configuration: () => {
    base = freshBase();
    return configuration({ basePath: base });
  },
  // sshd through the kit's Toxiproxy, for the network-fault cases.
  network: {
    upstream: `${sftp.host}:${sftp.port}`,
    configuration: (address) =>
      configuration({
        basePath: base,
        host: address.split(":")[0],
        port: Number(address.split(":")[1]),
        knownHostsSecret: { file: knownHostsAt(address) },
        // A silent server also stalls the handshakes of the retry and the clean-up.
        connectTimeoutSeconds: 2,
      }),
    silenceTimeoutField: "timeoutSeconds",
  },
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
