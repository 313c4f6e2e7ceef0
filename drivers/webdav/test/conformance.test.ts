import { describeConformance } from "@argo-artifact-drivers/conformance";
import { apacheBasic, backend, configuration, ENTRYPOINT, login, pluginEnv } from "./plugin.js";

/** `url` with its host:port replaced by the fault proxy's `address`. */
const via = (url: string, address: string) => url.replace(new URL(url).host, address);

describeConformance({
  driver: "webdav-apache",
  entrypoint: ENTRYPOINT,
  env: pluginEnv(),
  // Apache httpd with mod_dav_fs, basic authentication; the kit puts every key under a fresh prefix.
  configuration: () => apacheBasic(),
  // Apache through the kit's Toxiproxy; timeoutSeconds ends a silent connection.
  network: {
    upstream: new URL(backend().apache).host,
    configuration: (address) =>
      configuration({ url: `${via(backend().apache, address)}/basic/`, ...login }),
    silenceTimeoutField: "timeoutSeconds",
  },
  // Credentials as Argo users give them: `{name, key}` references, served by the kit's Kubernetes API stand-in.
  kubernetesSecrets: {
    values: { usernameSecret: backend().username, passwordSecret: backend().password },
    configuration: (refs) => configuration({ url: `${backend().apache}/basic/`, ...refs }),
  },
});
