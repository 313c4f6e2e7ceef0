import { describeConformance } from "@argo-artifact-drivers/conformance";
import { apacheBasic, backend, configuration, ENTRYPOINT, pluginEnv } from "./plugin.js";

describeConformance({
  driver: "webdav-apache",
  entrypoint: ENTRYPOINT,
  env: pluginEnv(),
  // Apache httpd with mod_dav_fs, basic authentication; the kit puts every key under a fresh prefix.
  configuration: () => apacheBasic(),
  // Credentials as Argo users give them: `{name, key}` references, served by the kit's Kubernetes API stand-in.
  kubernetesSecrets: {
    values: { usernameSecret: backend().username, passwordSecret: backend().password },
    configuration: (refs) => configuration({ url: `${backend().apache}/basic/`, ...refs }),
  },
});
