import { defineDriver } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "__name__";

export const driver = defineDriver({
  name: DRIVER_NAME,
  // BACKEND: the fields of a __name__ configuration (endpoint, bucket, ...), each
  // with one .describe() that the README's configuration table repeats.
  // Credentials are secret references, never values: e.g.
  // `accessKeySecret: secretRef().describe("Secret holding the access key")`,
  // read in createAdapter with `context.secret(config.accessKeySecret)`.
  config: {
    root: z
      .string()
      .startsWith("/", "must be an absolute path")
      .describe(
        "Absolute path of an existing folder in the plugin container; keys are paths below it",
      ),
  },
  // The SDK loads in the background once the socket is bound, so the first
  // call does not wait for it; createAdapter imports the same module.
  preload: () => import("./adapter.js"),
  async createAdapter(config) {
    // Drivers import their SDK lazily so the socket binds before it loads.
    const { __Name__Adapter } = await import("./adapter.js");
    return __Name__Adapter.open(config.root);
  },
});
