#!/usr/bin/env node
// Adds up the test reports of one scripts/test.sh run (vitest JSON per
// package, `go test -json`, the container test's "N passed, N failed" line)
// and prints the one closing line CI reads: "N passed, N failed, N skipped".
// A report that cannot be read counts as one failure.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const folder = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];

for (const name of readdirSync(folder).sort()) {
  const text = readFileSync(join(folder, name), "utf8");
  let p = 0;
  let f = 0;
  let s = 0;
  if (name.startsWith("vitest-")) {
    const report = JSON.parse(text);
    p = report.numPassedTests;
    f = report.numFailedTests + (report.numFailedTestSuites ?? 0);
    s = report.numPendingTests + report.numTodoTests;
  } else if (name === "go-test.json") {
    for (const line of text.split("\n")) {
      if (!line.startsWith("{")) continue;
      const event = JSON.parse(line);
      if (!event.Test) continue;
      if (event.Action === "pass") p++;
      else if (event.Action === "fail") f++;
      else if (event.Action === "skip") s++;
    }
  } else if (name === "containers.txt") {
    // node:test's summary: "ℹ pass N", "ℹ fail N", "ℹ skipped N".
    const count = (label) =>
      Number(new RegExp(`^ℹ ${label} (\\d+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    [p, f, s] = [count("pass"), count("fail"), count("skipped")];
    if (Number.isNaN(p) || Number.isNaN(f)) [p, f, s] = [0, 1, 0];
  } else continue;
  rows.push(
    `  ${name.replace(/\.(json|txt)$/, "").padEnd(28)} ${p} passed, ${f} failed, ${s} skipped`,
  );
  passed += p;
  failed += f;
  skipped += s;
}
console.log(rows.join("\n"));
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (failed > 0) process.exitCode = 1;
