import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  driverShape,
  renderSkeleton,
  type SkeletonFile,
  shapeDifferences,
  templateValues,
} from "../src/index.js";

const repoRoot = join(import.meta.dirname, "../../..");
const drivers = readdirSync(join(repoRoot, "drivers"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe("every driver package has the skeleton's shape", () => {
  test("the repository has drivers to check", () => {
    expect(drivers).toContain("local");
  });

  // A failure lists every difference of that driver; a driver being written
  // shows here until it has the shape.
  test.each(drivers)("drivers/%s", async (name) => {
    expect(await driverShape(repoRoot, name)).toEqual([]);
  });

  test("the skeleton's Dockerfile and src/main.ts are the reference driver's, byte for byte", async () => {
    const skeleton = await renderSkeleton(await templateValues(repoRoot, "local"));
    for (const path of ["Dockerfile", "src/main.ts"]) {
      expect(skeleton.get(path)?.content, path).toBe(
        readFileSync(join(repoRoot, "drivers/local", path), "utf8"),
      );
    }
  });
});

describe("the shape check, on a driver made from the skeleton", () => {
  let skeleton: Map<string, SkeletonFile>;
  beforeAll(async () => {
    skeleton = await renderSkeleton(await templateValues(repoRoot, "fixture"));
  });

  /** The differences of the skeleton's own files after `change` (path → new text, or null to remove). */
  function differencesAfter(change: Record<string, string | null>): string[] {
    const files = new Map([...skeleton].map(([path, file]) => [path, file.content]));
    for (const [path, text] of Object.entries(change)) {
      if (text === null) files.delete(path);
      else files.set(path, text);
    }
    const read = (path: string) => files.get(path) ?? "";
    return shapeDifferences([...files.keys()].sort(), read, skeleton, "fixture");
  }
  const text = (path: string) => skeleton.get(path)?.content ?? "";
  const manifest = () => JSON.parse(text("package.json")) as Record<string, Record<string, string>>;
  const withManifest = (edit: (json: Record<string, Record<string, string>>) => void) => {
    const json = manifest();
    edit(json);
    return { "package.json": JSON.stringify(json, null, 2) };
  };

  test("the skeleton itself has no difference", () => {
    expect(differencesAfter({})).toEqual([]);
  });

  test("more sources, tests and fixtures are allowed", () => {
    expect(
      differencesAfter({
        "src/client.ts": "export {};\n",
        "test/client.test.ts": "export {};\n",
        "test/fixtures/identities.py": "print()\n",
      }),
    ).toEqual([]);
  });

  test("a changed Dockerfile is named with its first different line", () => {
    const dockerfile = text("Dockerfile").replace("USER 8737:8737", "USER 0");
    const line = text("Dockerfile").split("\n").indexOf("USER 8737:8737") + 1;
    expect(line).toBeGreaterThan(0);
    expect(differencesAfter({ Dockerfile: dockerfile })).toEqual([
      `Dockerfile differs from the skeleton's at line ${line}: "USER 0" instead of "USER 8737:8737"`,
    ]);
  });

  test("a changed src/main.ts is named", () => {
    expect(differencesAfter({ "src/main.ts": `${text("src/main.ts")}// more\n` })).toEqual([
      'src/main.ts differs from the skeleton\'s at line 6: "// more" instead of ""',
    ]);
  });

  test("missing and stray files are named", () => {
    expect(
      differencesAfter({
        "test/global-setup.ts": null,
        "scratch/try.mjs": "",
        "bench/other.mjs": "",
      }),
    ).toEqual([
      "missing test/global-setup.ts",
      "unexpected bench/other.mjs (a driver may add only src/*.ts, test/*.ts and test/fixtures/**)",
      "unexpected scratch/try.mjs (a driver may add only src/*.ts, test/*.ts and test/fixtures/**)",
    ]);
  });

  test("package.json: name, fields, scripts and dependencies", () => {
    const changed = withManifest((json) => {
      json.name = "@argo-artifact-drivers/fixture" as never;
      json.main = "./dist/main.js" as never;
      json.scripts = {
        ...json.scripts,
        test: "bash test/setup-backend.sh && vitest run",
        lint: "biome ci .",
      };
      json.dependencies = { ...json.dependencies, "p-map": "7.1.1", "some-sdk": "^1.2.0" };
      delete json.devDependencies?.vitest;
    });
    expect(differencesAfter(changed)).toEqual([
      'package.json has "main", which the skeleton has not',
      'package.json "name" is "@argo-artifact-drivers/fixture", the skeleton\'s is "@argo-artifact-drivers/driver-fixture"',
      'script "test" is "bash test/setup-backend.sh && vitest run", the skeleton\'s is "vitest run"',
      'package.json has script "lint", which the skeleton has not',
      "dependencies has p-map: use the core's context.parallel",
      'dependencies "some-sdk" is "^1.2.0", not an exact version',
      `devDependencies "vitest" is null, the skeleton's is ${JSON.stringify(manifest().devDependencies?.vitest)}`,
    ]);
  });

  test("src/driver.ts: the driver's name and a lazy adapter import", () => {
    const driver = text("src/driver.ts")
      .replace('DRIVER_NAME = "fixture"', 'DRIVER_NAME = "other"')
      .replace('await import("./adapter.js")', 'await Promise.resolve(import("./adapter.js"))');
    expect(differencesAfter({ "src/driver.ts": driver })).toEqual([
      'src/driver.ts does not export DRIVER_NAME = "fixture"',
      'src/driver.ts does not import ./adapter.js lazily (await import("./adapter.js") in createAdapter)',
    ]);
  });

  test("secret fields need the kit's Kubernetes Secret scenarios", () => {
    const driver = text("src/driver.ts")
      .replace("import { defineDriver }", "import { defineDriver, secretRef }")
      .replace(
        "config: {",
        'config: {\n    tokenSecret: secretRef().describe("Secret holding the token"),',
      );
    expect(differencesAfter({ "src/driver.ts": driver })).toEqual([
      "test/conformance.test.ts has no kubernetesSecrets, though src/driver.ts has secret fields",
    ]);
  });

  test("a driver's own retry or pool library is named where it is imported", () => {
    const adapter = `import pMap from "p-map";\n${text("src/adapter.ts")}`;
    expect(differencesAfter({ "src/adapter.ts": adapter })).toEqual([
      "src/adapter.ts imports p-map: use the core's context.parallel",
    ]);
  });
});
