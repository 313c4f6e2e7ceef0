#!/usr/bin/env node
// Adds up the test reports of one scripts/test.sh run (vitest JSON per
// package, `go test -json`, the container test's "N passed, N failed" line)
// and prints the one closing line CI reads: "N passed, N failed, N skipped".
// The names of failed tests come just before it, with the first line of each
// failure, since CI logs are often read from the tail only.
// A report that cannot be read counts as one failure.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";

const folder = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
const failures = [];
const firstLine = (message) =>
  stripVTControlCharacters(String(message ?? ""))
    .split("\n")
    .find((line) => line.trim() !== "")
    ?.trim()
    .slice(0, 300) ?? "";

for (const name of readdirSync(folder).sort()) {
  const text = readFileSync(join(folder, name), "utf8");
  let p = 0;
  let f = 0;
  let s = 0;
  if (name.startsWith("vitest-")) {
    const report = JSON.parse(text);
    p = report.numPassedTests;
    // A file that failed outside any test (an import or a hook) counts as one.
    f = report.numFailedTests;
    s = report.numPendingTests + report.numTodoTests;
    for (const file of report.testResults ?? []) {
      const failedTests = (file.assertionResults ?? []).filter((t) => t.status === "failed");
      for (const test of failedTests) {
        failures.push(`${name}: ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`);
      }
      if (file.status === "failed" && failedTests.length === 0) {
        f++;
        failures.push(`${name}: ${file.name}: ${firstLine(file.message)}`);
      }
    }
  } else if (name === "go-test.json") {
    for (const line of text.split("\n")) {
      if (!line.startsWith("{")) continue;
      const event = JSON.parse(line);
      if (!event.Test) continue;
      if (event.Action === "pass") p++;
      else if (event.Action === "fail") {
        f++;
        failures.push(`${name}: ${event.Test}`);
      } else if (event.Action === "skip") s++;
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
if (failures.length > 0) console.log(`failed:\n${failures.map((f) => `  ${f}`).join("\n")}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (failed > 0) process.exitCode = 1;
