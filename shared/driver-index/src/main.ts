#!/usr/bin/env node
// `pnpm index` (writes) and `pnpm index --check` (exit status 1 when stale).
import { join } from "node:path";
import { staleFiles, writeIndex } from "./generate.js";

const root = join(import.meta.dirname, "../../..");

try {
  if (process.argv.includes("--check")) {
    const stale = await staleFiles(root);
    if (stale.length > 0) {
      process.stderr.write(
        `the driver index is out of date with the driver packages: ${stale.join(", ")}; run pnpm index and commit the result\n`,
      );
      process.exitCode = 1;
    } else {
      process.stdout.write("the driver index is up to date\n");
    }
  } else {
    const changed = await writeIndex(root);
    process.stdout.write(
      changed.length === 0 ? "the driver index was up to date\n" : `wrote ${changed.join(", ")}\n`,
    );
  }
} catch (error) {
  process.stderr.write(`pnpm index: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
