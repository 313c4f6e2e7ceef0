import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  generateDriver,
  nameProblem,
  pascalCase,
  render,
  renderSkeleton,
  type TemplateValues,
  templateValues,
} from "../src/index.js";

const repoRoot = join(import.meta.dirname, "../../..");

describe("driver names", () => {
  test.each(["gcs", "azure-blob", "s3", "web2dav"])("%s is accepted", (name) => {
    expect(nameProblem(name)).toBeUndefined();
  });

  test.each([
    ["", "give the driver's name"],
    ["Gcs", "lowercase letters, digits and hyphens"],
    ["my_driver", "lowercase letters, digits and hyphens"],
    ["../x", "lowercase letters, digits and hyphens"],
    ["9p", "must start with a letter"],
    ["gcs-", "may not end with a hyphen"],
    ["a--b", "two in a row"],
    ["driver-gcs", 'use "gcs"'],
    ["x".repeat(41), "longer than 40"],
  ])("%j is refused: %s", (name, reason) => {
    expect(nameProblem(name)).toContain(reason);
  });

  test("class names in PascalCase", () => {
    expect(pascalCase("demo-driver")).toBe("DemoDriver");
    expect(pascalCase("s3")).toBe("S3");
  });
});

describe("templates", () => {
  const values: TemplateValues = {
    name: "demo",
    Name: "Demo",
    description: "A demo.",
    zodVersion: "1.0.0",
    vitestVersion: "2.0.0",
  };

  test("every placeholder is replaced", () => {
    expect(render("class __Name__Adapter {} // __name__: __description__", values, "x")).toBe(
      "class DemoAdapter {} // demo: A demo.",
    );
  });

  test("an unknown placeholder is an error naming the template", () => {
    expect(() => render("__nmae__", values, "src/driver.ts")).toThrow(
      "template src/driver.ts has the unknown placeholder __nmae__",
    );
  });

  test("the skeleton renders with the repository's versions and no placeholder left", async () => {
    const skeleton = await renderSkeleton(await templateValues(repoRoot, "demo-driver"));
    expect([...skeleton.keys()].sort()).toEqual([
      "Dockerfile",
      "README.md",
      "bench/throughput.mjs",
      "package.json",
      "src/adapter.ts",
      "src/driver.ts",
      "src/errors.ts",
      "src/main.ts",
      "test/conformance.test.ts",
      "test/global-setup.ts",
      "test/setup-backend.sh",
      "tsconfig.build.json",
      "tsconfig.json",
      "vitest.config.ts",
    ]);
    for (const [path, file] of skeleton) expect(file.content, path).not.toMatch(/__[A-Za-z]+__/);
    expect(skeleton.get("src/adapter.ts")?.content).toContain("class DemoDriverAdapter");
    expect(skeleton.get("test/setup-backend.sh")?.mode).toBe(0o755);
  });

  test("an existing driver or an invalid name is refused before anything is written", async () => {
    await expect(generateDriver({ repoRoot, name: "local" })).rejects.toThrow(
      "drivers/local exists already",
    );
    await expect(generateDriver({ repoRoot, name: "No Spaces" })).rejects.toThrow(
      "lowercase letters",
    );
    expect(existsSync(join(repoRoot, "drivers", "No Spaces"))).toBe(false);
  });
});
