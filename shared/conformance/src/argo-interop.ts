import { spawn } from "node:child_process";
import { join } from "node:path";

/** The Go tests of shared/interop-go that take a driver; the others (wrong servers, generated code) run once, from scripts/test.sh. */
const PER_DRIVER_TESTS =
  "^(TestArgoClient|TestSaveStream|TestSocketAppearsWhileArgoPolls|TestPluginReplacesStaleSocket|TestTelemetry)$";

export interface ArgoInteropRun {
  code: number | null;
  output: string;
}

/**
 * Runs the Go interop tests (Argo's own plugin client, grpc-go) against one
 * driver: its real entrypoint, with the same configuration and environment
 * the TypeScript scenarios use. Needs Go on PATH (scripts/test.sh sees to it).
 */
export function runArgoInterop(driver: {
  name: string;
  entrypoint: string;
  configuration: string;
  env?: Record<string, string>;
}): Promise<ArgoInteropRun> {
  const runner = join(import.meta.dirname, "../../interop-go/run.sh");
  const spec = [
    {
      name: driver.name,
      entrypoint: driver.entrypoint,
      configuration: driver.configuration,
      env: driver.env ?? {},
    },
  ];
  return new Promise((resolve) => {
    const child = spawn("bash", [runner, "-v", "-run", PER_DRIVER_TESTS], {
      env: { ...process.env, INTEROP_DRIVERS: JSON.stringify(spec) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", (error) => resolve({ code: null, output: `${output}\n${error.message}` }));
    child.once("exit", (code) => resolve({ code, output }));
  });
}
