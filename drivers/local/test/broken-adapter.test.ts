import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

interface JsonReport {
  numFailedTests: number;
  testResults: { assertionResults: { title: string; status: string }[] }[];
}

/** The kit is only worth something if it fails a driver with classic bugs. */
it("the conformance kit fails a deliberately broken adapter", async () => {
  const report = join(await mkdtemp(join(tmpdir(), "broken-report-")), "report.json");
  const vitest = join(import.meta.dirname, "../node_modules/.bin/vitest");
  const run = await promisify(execFile)(
    vitest,
    [
      "run",
      "--config",
      "test/fixtures/vitest.broken.config.ts",
      "--reporter=json",
      `--outputFile=${report}`,
    ],
    {
      cwd: join(import.meta.dirname, ".."),
      // Its hardening table goes beside the report, not into this run's results.
      env: { ...process.env, CI: "true", CONFORMANCE_RESULTS_DIR: dirname(report) },
      maxBuffer: 64 * 1024 * 1024,
    },
  ).then(
    () => ({ failed: false }),
    () => ({ failed: true }),
  );
  expect(run.failed).toBe(true);

  const results = (JSON.parse(await readFile(report, "utf8")) as JsonReport).testResults.flatMap(
    (file) => file.assertionResults,
  );
  const failed = new Set(
    results.filter((test) => test.status === "failed").map((test) => test.title),
  );
  expect(failed).toContain("a 1-byte file round-trips");
  expect(failed).toContain("OpenStream returns the exact bytes in frames of 1 KiB to 2 MiB");
  expect(failed).toContain("deletes a whole directory, with or without a trailing slash");
  // Scenarios the bugs do not touch still pass: the kit pinpoints, it does not just explode.
  for (const untouched of [
    "GetCapabilities announces SaveStream",
    "deleting a key that never existed succeeds",
    "a directory is a directory, with or without a trailing slash",
  ]) {
    expect(results.find((test) => test.title === untouched)?.status, untouched).toBe("passed");
  }
}, 600_000);
