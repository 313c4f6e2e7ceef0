import { defineDriver } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "local";

export const driver = defineDriver({
  name: DRIVER_NAME,
  config: {
    root: z
      .string()
      .startsWith("/", "must be an absolute path")
      .describe(
        "Absolute path of an existing folder in the plugin container; keys are paths below it",
      ),
  },
  preload: () => import("./adapter.js"),
  async createAdapter(config) {
    // Drivers import their SDK lazily so the socket binds before it loads.
    const { LocalAdapter } = await import("./adapter.js");
    return LocalAdapter.open(config.root);
  },
});
