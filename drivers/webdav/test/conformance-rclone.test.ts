import { describeConformance } from "@argo-artifact-drivers/conformance";
import { backend, configuration, ENTRYPOINT, login, pluginEnv } from "./plugin.js";

/** `url` with its host:port replaced by the fault proxy's `address`. */
const via = (url: string, address: string) => url.replace(new URL(url).host, address);

// The second server: rclone's WebDAV server (Go's golang.org/x/net/webdav),
// which answers MKCOL and PUT differently from Apache (201 for an existing
// collection, 404 for a missing parent).
describeConformance({
  driver: "webdav-rclone",
  entrypoint: ENTRYPOINT,
  env: pluginEnv(),
  configuration: () => configuration({ url: backend().rclone, ...login }),
  network: {
    upstream: new URL(backend().rclone).host,
    configuration: (address) => configuration({ url: via(backend().rclone, address), ...login }),
    silenceTimeoutField: "timeoutSeconds",
  },
  kubernetesSecrets: {
    values: { usernameSecret: backend().username, passwordSecret: backend().password },
    configuration: (refs) => configuration({ url: backend().rclone, ...refs }),
  },
});
