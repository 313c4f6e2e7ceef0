import { existsSync } from "node:fs";
import { CLI, LOCAL_PLUGIN } from "./helpers.js";

/** The tests run the built CLI and the built reference plugin, as users do. */
export default function setup(): void {
  for (const entrypoint of [CLI, LOCAL_PLUGIN]) {
    if (!existsSync(entrypoint)) {
      throw new Error(
        `${entrypoint} is not built: run the tests with \`pnpm turbo run test --filter @argo-artifact-drivers/client\`, which builds the client and the local plugin first`,
      );
    }
  }
}
