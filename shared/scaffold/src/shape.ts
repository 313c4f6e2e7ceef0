import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { sourceFiles } from "./files.js";
import { renderSkeleton, type SkeletonFile, templateValues } from "./generate.js";

/**
 * What a driver may hold beyond the skeleton: more source files, more tests
 * and their helpers, and test fixtures. Anything else (another bench script,
 * a scratch file, a helper in another language outside test/fixtures/) is a
 * deviation to move or remove.
 */
export const ALLOWED_EXTRAS: readonly RegExp[] = [
  /^src\/[^/]+\.ts$/,
  /^test\/[^/]+\.ts$/,
  /^test\/fixtures\/.+/,
];

/** Files every driver holds byte for byte as the skeleton has them. */
export const IDENTICAL_FILES = [
  "Dockerfile",
  "src/main.ts",
  "tsconfig.json",
  "tsconfig.build.json",
];

/** Dependencies no driver may have, with what to use instead. */
const FORBIDDEN_DEPENDENCIES: Record<string, string> = {
  "p-map": "the core's context.parallel",
  "p-retry": "the core's context.retry",
  "async-retry": "the core's context.retry",
};

const EXACT_VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

type Manifest = Record<string, unknown>;

/** How `drivers/<name>` of the repository at `repoRoot` differs from the skeleton. */
export async function driverShape(repoRoot: string, name: string): Promise<string[]> {
  const dir = join(repoRoot, "drivers", name);
  const skeleton = await renderSkeleton(await templateValues(repoRoot, name));
  const read = (path: string) => readFileSync(join(dir, path), "utf8");
  return shapeDifferences(await sourceFiles(dir), read, skeleton, name);
}

/**
 * How the driver in `files` (its relative paths and a reader of their text)
 * differs from `skeleton` (the template rendered for the driver's name): one
 * line per difference, none when it has the shape.
 */
export function shapeDifferences(
  files: readonly string[],
  read: (path: string) => string,
  skeleton: ReadonlyMap<string, SkeletonFile>,
  name: string,
): string[] {
  const differences: string[] = [];
  const present = new Set(files);
  for (const path of skeleton.keys()) {
    if (!present.has(path)) differences.push(`missing ${path}`);
  }
  for (const path of files) {
    if (!skeleton.has(path) && !ALLOWED_EXTRAS.some((pattern) => pattern.test(path))) {
      differences.push(
        `unexpected ${path} (a driver may add only src/*.ts, test/*.ts and test/fixtures/**)`,
      );
    }
  }
  for (const path of IDENTICAL_FILES) {
    const expected = skeleton.get(path)?.content;
    if (expected === undefined || !present.has(path)) continue;
    const actual = read(path);
    if (actual !== expected) {
      differences.push(`${path} differs from the skeleton's ${firstDifference(actual, expected)}`);
    }
  }
  if (present.has("package.json")) {
    const expected = JSON.parse(skeleton.get("package.json")?.content ?? "{}") as Manifest;
    differences.push(...manifestDifferences(read("package.json"), expected));
  }
  if (present.has("src/driver.ts"))
    differences.push(...driverDifferences(read("src/driver.ts"), name));
  if (present.has("test/conformance.test.ts")) {
    const test = read("test/conformance.test.ts");
    if (
      !/from "@argo-artifact-drivers\/conformance"/.test(test) ||
      !test.includes("describeConformance(")
    )
      differences.push("test/conformance.test.ts does not call describeConformance from the kit");
    const driver = present.has("src/driver.ts") ? read("src/driver.ts") : "";
    const usesSecrets =
      /import\s*\{[^}]*\bsecretRef\b[^}]*\}\s*from "@argo-artifact-drivers\/core"/.test(driver);
    if (usesSecrets && !/\bkubernetesSecrets\s*:/.test(test))
      differences.push(
        "test/conformance.test.ts has no kubernetesSecrets, though src/driver.ts has secret fields",
      );
  }
  for (const path of files.filter((file) => /^(src|test|bench)\/.*\.[mc]?[jt]s$/.test(file))) {
    for (const [dependency, instead] of Object.entries(FORBIDDEN_DEPENDENCIES)) {
      if (new RegExp(`from "${dependency}"|import\\("${dependency}"\\)`).test(read(path)))
        differences.push(`${path} imports ${dependency}: use ${instead}`);
    }
  }
  return differences;
}

function manifestDifferences(text: string, expected: Manifest): string[] {
  let actual: Manifest;
  try {
    actual = JSON.parse(text) as Manifest;
  } catch (error) {
    return [`package.json is not JSON: ${(error as Error).message}`];
  }
  const differences: string[] = [];
  for (const field of Object.keys(expected)) {
    if (!(field in actual)) differences.push(`package.json has no "${field}"`);
  }
  for (const field of Object.keys(actual)) {
    if (!(field in expected))
      differences.push(`package.json has "${field}", which the skeleton has not`);
  }
  for (const field of ["name", "private", "type", "exports", "license"]) {
    if (field in actual && !isDeepStrictEqual(actual[field], expected[field]))
      differences.push(
        `package.json "${field}" is ${JSON.stringify(actual[field])}, the skeleton's is ${JSON.stringify(expected[field])}`,
      );
  }
  const scripts = record(actual.scripts);
  const expectedScripts = record(expected.scripts);
  for (const [script, command] of Object.entries(expectedScripts)) {
    if (scripts[script] === undefined) differences.push(`package.json has no script "${script}"`);
    else if (scripts[script] !== command)
      differences.push(
        `script "${script}" is ${JSON.stringify(scripts[script])}, the skeleton's is ${JSON.stringify(command)}`,
      );
  }
  for (const script of Object.keys(scripts)) {
    if (!(script in expectedScripts))
      differences.push(`package.json has script "${script}", which the skeleton has not`);
  }
  for (const field of ["dependencies", "devDependencies"]) {
    const dependencies = record(actual[field]);
    for (const [dependency, version] of Object.entries(record(expected[field]))) {
      if (dependencies[dependency] !== version)
        differences.push(
          `${field} "${dependency}" is ${JSON.stringify(dependencies[dependency] ?? null)}, the skeleton's is ${JSON.stringify(version)}`,
        );
    }
    for (const [dependency, version] of Object.entries(dependencies)) {
      const instead = FORBIDDEN_DEPENDENCIES[dependency];
      if (instead) differences.push(`${field} has ${dependency}: use ${instead}`);
      if (version !== "workspace:*" && !EXACT_VERSION.test(version))
        differences.push(
          `${field} "${dependency}" is ${JSON.stringify(version)}, not an exact version`,
        );
    }
  }
  return differences;
}

function driverDifferences(source: string, name: string): string[] {
  const differences: string[] = [];
  if (!source.includes(`export const DRIVER_NAME = ${JSON.stringify(name)};`))
    differences.push(`src/driver.ts does not export DRIVER_NAME = ${JSON.stringify(name)}`);
  if (!/export const driver = defineDriver\(/.test(source))
    differences.push("src/driver.ts does not export `driver = defineDriver(...)`");
  if (!source.includes('await import("./adapter.js")'))
    differences.push(
      'src/driver.ts does not import ./adapter.js lazily (await import("./adapter.js") in createAdapter)',
    );
  return differences;
}

function record(value: unknown): Record<string, string> {
  return typeof value === "object" && value !== null ? (value as Record<string, string>) : {};
}

/** `at line N: "actual" instead of "expected"`. */
function firstDifference(actual: string, expected: string): string {
  const actualLines = actual.split("\n");
  const expectedLines = expected.split("\n");
  const line = actualLines.findIndex((text, index) => text !== expectedLines[index]);
  const index = line === -1 ? actualLines.length : line;
  return `at line ${index + 1}: ${JSON.stringify(actualLines[index] ?? "(end of file)")} instead of ${JSON.stringify(expectedLines[index] ?? "(end of file)")}`;
}
