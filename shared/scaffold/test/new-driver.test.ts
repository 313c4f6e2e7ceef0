import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { driverShape, sourceFiles } from "../src/index.js";

/**
 * `pnpm new-driver demo-driver` in a scratch copy of the repository, then the
 * new package through what CI runs on every driver: biome, tsc, the shape
 * check and its conformance kit against its folder backend. Installs are
 * offline from the machine's pnpm store (the repository's own install filled it).
 */
const repoRoot = join(import.meta.dirname, "../../..");
const NAME = "demo-driver";
const PACKAGE = `@argo-artifact-drivers/driver-${NAME}`;

interface Run {
  code: number | null;
  output: string;
}

/** The environment of this test run, without the vitest state a nested vitest would inherit. */
const environment = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) => !name.startsWith("VITEST") && !["NODE_ENV", "TEST", "NODE_OPTIONS"].includes(name),
  ),
);

function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: environment,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", (error) => resolve({ code: null, output: `${output}\n${error.message}` }));
    child.once("close", (code) => resolve({ code, output }));
  });
}

/** Runs and fails with the command's output unless it exits 0. */
async function succeed(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  if (result.code !== 0) {
    const tail = result.output.split("\n").slice(-80).join("\n");
    throw new Error(`${command} ${args.join(" ")} exited with ${result.code}:\n${tail}`);
  }
  return result.output;
}

/**
 * Gives the new package the lockfile entry of the reference driver, whose
 * dependencies the skeleton shares: an offline install of a package the
 * lockfile lacks needs registry metadata, which a frozen install never
 * downloads. A frozen install then fails if the two ever differ.
 */
async function addToLockfile(scratch: string): Promise<void> {
  const file = join(scratch, "pnpm-lock.yaml");
  const lockfile = await readFile(file, "utf8");
  const start = lockfile.indexOf("\n  drivers/local:\n") + 1;
  const end = lockfile.slice(start + 3).search(/^ {2}\S/m) + start + 3;
  if (start === 0 || end < start + 3)
    throw new Error("no drivers/local importer in pnpm-lock.yaml");
  const entry = lockfile.slice(start, end).replace("  drivers/local:", `  drivers/${NAME}:`);
  await writeFile(file, lockfile.slice(0, start) + entry + lockfile.slice(start));
}

describe(`pnpm new-driver ${NAME}, in a scratch copy of the repository`, () => {
  let scratch: string;
  let driver: string;
  let scaffolded: Run;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "new-driver-"));
    driver = join(scratch, "drivers", NAME);
    for (const path of await sourceFiles(repoRoot)) {
      await mkdir(dirname(join(scratch, path)), { recursive: true });
      await copyFile(join(repoRoot, path), join(scratch, path));
      await chmod(join(scratch, path), (await stat(join(repoRoot, path))).mode);
    }
    await succeed("pnpm", ["install", "--offline", "--frozen-lockfile"], scratch);
    scaffolded = await run("pnpm", ["new-driver", NAME], scratch);
    if (scaffolded.code !== 0) return;
    await addToLockfile(scratch);
    await succeed("pnpm", ["install", "--offline", "--frozen-lockfile"], scratch);
    await succeed(
      "pnpm",
      ["turbo", "run", "build", `--filter=${PACKAGE}...`, "--output-logs=errors-only"],
      scratch,
    );
  }, 300_000);

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test("the scaffold writes the package and says what to do next", () => {
    expect(scaffolded.output).toContain(`created drivers/${NAME}/`);
    expect(scaffolded.output).toContain(`grep -rn BACKEND: drivers/${NAME}`);
    expect(scaffolded.code).toBe(0);
  });

  test("it refuses an existing name and an invalid one, writing nothing", async () => {
    const again = await run("pnpm", ["new-driver", NAME], scratch);
    expect(again.output).toContain(`drivers/${NAME} exists already`);
    expect(again.code).not.toBe(0);
    const invalid = await run("pnpm", ["new-driver", "Demo_Driver"], scratch);
    expect(invalid.output).toContain("lowercase letters, digits and hyphens");
    expect(invalid.code).not.toBe(0);
  });

  test("the package has the skeleton's shape", async () => {
    expect(await driverShape(scratch, NAME)).toEqual([]);
  });

  test("biome finds nothing to fix or report", async () => {
    await succeed("pnpm", ["exec", "biome", "ci", `drivers/${NAME}`], scratch);
  });

  test("tsc type-checks its sources, tests and bench", async () => {
    await succeed("pnpm", ["--filter", PACKAGE, "typecheck"], scratch);
  });

  test("it passes the conformance kit against its folder backend", async () => {
    const report = join(scratch, "conformance.json");
    await succeed(
      "pnpm",
      ["exec", "vitest", "run", "--reporter=json", `--outputFile=${report}`],
      driver,
    );
    const results = JSON.parse(await readFile(report, "utf8")) as {
      numPassedTests: number;
      numFailedTests: number;
    };
    expect(results.numFailedTests).toBe(0);
    expect(results.numPassedTests).toBeGreaterThan(20);
  }, 600_000);
});
