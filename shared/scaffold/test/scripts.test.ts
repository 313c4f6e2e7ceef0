import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { scriptProblems } from "../src/index.js";

const repoRoot = join(import.meta.dirname, "../../..");

describe("package.json scripts point at things that exist", () => {
  test("in this repository", async () => {
    expect(await scriptProblems(repoRoot)).toEqual([]);
  });

  describe("the check, on a fixture repository", () => {
    let root: string;
    const write = async (path: string, text: string) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    };
    const manifest = (fields: Record<string, unknown>) => `${JSON.stringify(fields, null, 2)}\n`;

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), "scripts-check-"));
      await write("scripts/demo.sh", "");
      await write("tools/generate.mjs", "");
      await write("pkg/src/main.ts", "");
      await write("pkg/tsconfig.build.json", "{}");
      await write(
        "package.json",
        manifest({
          scripts: {
            demo: "node shared/demo/dist/main.js",
            fixed: "bash scripts/demo.sh",
            generate: "node tools/generate.mjs --check >/dev/null 2>&1",
            build: "turbo run build --filter=pkg",
            typo: "turbo run biuld",
            missing: "no-such-program-here --version",
          },
        }),
      );
      await write(
        "pkg/package.json",
        manifest({
          bin: { tool: "./dist/main.js" },
          exports: { ".": { types: "./dist/index.d.ts", default: "./dist/index.js" } },
          scripts: {
            build:
              "tsc -p tsconfig.build.json && cp src/main.ts dist/copied.ts && mkdir -p dist/more",
            copy: "cp -r missing/data.json dist/data.json",
            bench: "node bench/throughput.mjs",
          },
        }),
      );
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    test("names each script, bin and export target that is missing", async () => {
      expect(await scriptProblems(root)).toEqual([
        'package.json script "demo" (node shared/demo/dist/main.js): no file shared/demo/dist/main.js',
        'package.json script "typo" (turbo run biuld): no package has a script "biuld" for turbo',
        'package.json script "missing" (no-such-program-here --version): no program no-such-program-here',
        'pkg/package.json script "copy" (cp -r missing/data.json dist/data.json): no file missing/data.json',
        'pkg/package.json script "bench" (node bench/throughput.mjs): no file bench/throughput.mjs',
        "pkg/package.json points at ./dist/index.d.ts, which does not exist",
        "pkg/package.json points at ./dist/index.js, which does not exist",
      ]);
    });
  });
});
