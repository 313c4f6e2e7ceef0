import { describeConformance } from "@argo-artifact-drivers/conformance";
import { backend, configuration, ENTRYPOINT, login, pluginEnv } from "./plugin.js";

// The second server: rclone's WebDAV server (Go's golang.org/x/net/webdav),
// which answers MKCOL and PUT differently from Apache (201 for an existing
// collection, 404 for a missing parent).
describeConformance({
  driver: "webdav-rclone",
  entrypoint: ENTRYPOINT,
  env: pluginEnv(),
  configuration: () => configuration({ url: backend().rclone, ...login }),
  kubernetesSecrets: {
    values: { usernameSecret: backend().username, passwordSecret: backend().password },
    configuration: (refs) => configuration({ url: backend().rclone, ...refs }),
  },
});
