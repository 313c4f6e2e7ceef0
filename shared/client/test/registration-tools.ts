import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadDriverIndex } from "../src/registration/driver-index.js";

export const REPO = join(import.meta.dirname, "../../..");
export const FIXTURES = join(import.meta.dirname, "fixtures");
export const ARGO_SERVER = join(FIXTURES, "argo/argo-server-deployment.yaml");
export const INDEX = loadDriverIndex(join(REPO, "index/drivers.json"));

const run = promisify(execFile);

/** Built by shared/manifests-go/setup.sh, which the README's test command runs. */
export function tool(name: "kustomize" | "check-manifests"): string {
  const path = join(REPO, ".tools/go/bin", name);
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: run \`source scripts/go-toolchain.sh && bash shared/manifests-go/setup.sh\` (scripts/test.sh does)`,
    );
  }
  return path;
}

export interface CheckReport {
  documents: { file: string; kind: string; name: string }[];
  drivers: {
    name: string;
    image: string;
    socketPath: string;
    socketDir: string;
    entrypoint: string[] | null;
  }[];
  problems: string[];
  warnings: string[];
}

/** Strict decoding into the Kubernetes and Argo Go types, and Argo's plugin checks (shared/manifests-go). */
export async function checkManifests(
  args: string[],
): Promise<{ code: number; report: CheckReport }> {
  try {
    const { stdout } = await run(tool("check-manifests"), args);
    return { code: 0, report: JSON.parse(stdout) as CheckReport };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number" || !failed.stdout) throw error;
    return { code: failed.code, report: JSON.parse(failed.stdout) as CheckReport };
  }
}

export async function kustomizeBuild(folder: string): Promise<string> {
  const { stdout } = await run(tool("kustomize"), ["build", folder]);
  return stdout;
}
