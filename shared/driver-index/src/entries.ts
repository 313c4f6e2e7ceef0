import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DriverDefinition } from "@argo-artifact-drivers/core";
import { ArtifactServiceService } from "@argo-artifact-drivers/core/proto";
import { configurationSchema, secretFields } from "./config-schema.js";
import { type ExternalEntry, entrySchema, externalEntrySchema, type IndexEntry } from "./format.js";

/** The image names docker/build.sh gives, without its `localhost/` prefix (they are not pushed anywhere yet). */
const IMAGE_PREFIX = "argo-artifact-drivers";
/** Artifact driver plugins arrived in Argo Workflows 4.0. */
const ARGO_VERSIONS = ">=4.0";
/** Node's npm packages per platform, as docker/base/packages.lock names them, to Linux architectures. */
const NODE_PLATFORMS: Record<string, "amd64" | "arm64" | "ppc64le" | "s390x"> = {
  x64: "amd64",
  arm64: "arm64",
  ppc64le: "ppc64le",
  s390x: "s390x",
};

interface PackageJson {
  name: string;
  version: string;
  description: string;
  license: string;
}

/** The entries of the drivers in this repository, read from their packages. */
export async function repositoryEntries(root: string): Promise<IndexEntry[]> {
  const folders = readdirSync(join(root, "drivers"), { withFileTypes: true })
    .filter(
      (entry) =>
        entry.isDirectory() && existsSync(join(root, "drivers", entry.name, "package.json")),
    )
    .map((entry) => entry.name)
    .sort();
  const architectures = imageArchitectures(root);
  const entries: IndexEntry[] = [];
  for (const folder of folders) {
    const path = `drivers/${folder}`;
    const pkg = JSON.parse(readFileSync(join(root, path, "package.json"), "utf8")) as PackageJson;
    const driver = await loadDriver(pkg.name);
    if (driver.name !== folder) {
      throw new Error(
        `${path}: the driver calls itself "${driver.name}"; its folder must have the same name`,
      );
    }
    const configuration = configurationSchema(driver);
    const dockerfile = readFileSync(join(root, path, "Dockerfile"), "utf8");
    const rpcs = Object.values(ArtifactServiceService).map(
      (method) => method.path.split("/").pop() ?? "",
    );
    entries.push(
      entrySchema.parse({
        name: driver.name,
        description: pkg.description,
        version: pkg.version,
        license: pkg.license,
        source: { path, package: pkg.name },
        readme: `${path}/README.md`,
        image: {
          name: `${IMAGE_PREFIX}/${driver.name}`,
          registry: null,
          tags: [pkg.version],
          entrypoint: dockerEntrypoint(dockerfile, path),
          user: dockerUser(dockerfile, path),
          architectures,
          build: `docker/build.sh ${driver.name}`,
        },
        argo: { versions: ARGO_VERSIONS, rpcs, saveStream: rpcs.includes("SaveStream") },
        secrets: { sources: ["kubernetes"], fields: secretFields(configuration) },
        configuration,
        schema: `schemas/${driver.name}.json`,
      }),
    );
  }
  return entries;
}

async function loadDriver(packageName: string): Promise<DriverDefinition> {
  let module: { driver?: DriverDefinition };
  try {
    module = (await import(packageName)) as { driver?: DriverDefinition };
  } catch (error) {
    throw new Error(
      `cannot load ${packageName}: add it to the dependencies of shared/driver-index/package.json and build it (pnpm index builds everything it needs): ${(error as Error).message}`,
    );
  }
  if (!module.driver) throw new Error(`${packageName} exports no \`driver\``);
  return module.driver;
}

function dockerEntrypoint(dockerfile: string, where: string): string[] {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (!line) throw new Error(`${where}/Dockerfile has no ENTRYPOINT in exec form (["..."])`);
  return JSON.parse(line) as string[];
}

function dockerUser(dockerfile: string, where: string): number {
  const user = /^USER\s+(\d+)(?::\d+)?\s*$/m.exec(dockerfile)?.[1];
  if (!user) throw new Error(`${where}/Dockerfile has no numeric USER`);
  return Number(user);
}

/** The architectures the images are built for: those docker/base/packages.lock pins a Node for. */
function imageArchitectures(root: string): IndexEntry["image"]["architectures"] {
  const lock = readFileSync(join(root, "docker/base/packages.lock"), "utf8");
  const found = new Set(
    [...lock.matchAll(/^npm node-linux-([a-z0-9]+) /gm)].flatMap((match) => {
      const architecture = NODE_PLATFORMS[match[1] ?? ""];
      return architecture ? [architecture] : [];
    }),
  );
  if (found.size === 0)
    throw new Error("docker/base/packages.lock pins no node-linux-<platform> package");
  return [...found].sort();
}

/** Hand-written entries of drivers published elsewhere, one JSON file each in index/external/. */
export function externalEntries(root: string): IndexEntry[] {
  const folder = join(root, "index/external");
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => {
      const result = externalEntrySchema.safeParse(
        JSON.parse(readFileSync(join(folder, file), "utf8")),
      );
      if (!result.success) {
        const problems = result.error.issues.map(
          (issue) => `${issue.path.join(".") || "(entry)"}: ${issue.message}`,
        );
        throw new Error(
          `index/external/${file} is not a valid index entry: ${problems.join("; ")}`,
        );
      }
      return completeExternal(result.data, file);
    });
}

function completeExternal(entry: ExternalEntry, file: string): IndexEntry {
  if (`${entry.name}.json` !== file) {
    throw new Error(
      `index/external/${file} describes "${entry.name}": name the file ${entry.name}.json`,
    );
  }
  return {
    ...entry,
    secrets: { ...entry.secrets, fields: secretFields(entry.configuration) },
    schema: `schemas/${entry.name}.json`,
  };
}
