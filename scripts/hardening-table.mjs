#!/usr/bin/env node
// Prints the hardening table of one scripts/test.sh run: each hardening case
// x driver -> outcome, from the hardening-<driver>.json files the conformance
// kit writes (network faults, SIGTERM mid-call, the bad-input corpus, the
// 200-call load), then each driver's details, then the secret check: how many
// secret values were looked for in every plugin log line and error message of
// the kit's run, and where one was found. Exits 1 when a case failed (known
// issues excepted), a secret was found, or no results exist.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const folder = process.argv[2];
const reports = readdirSync(folder)
  .filter((name) => /^hardening-.*\.json$/.test(name))
  .sort()
  .map((name) => JSON.parse(readFileSync(join(folder, name), "utf8")));
if (reports.length === 0) {
  console.log("hardening: no results (did the conformance suites run?)");
  process.exit(1);
}

const cases = [...new Set(reports.flatMap((report) => Object.keys(report.cases)))];
/** A cell of the matrix: a short word for the outcome. */
function cell(result) {
  if (!result) return "-";
  const text = result.outcome;
  if (text.startsWith("n/a")) return "n/a";
  if (text.startsWith("KNOWN ISSUE")) return "KNOWN ISSUE";
  if (!result.ok || text.startsWith("FAILED")) return "FAILED";
  if (text.startsWith("recovered")) return "recovered";
  if (text.startsWith("failed cleanly")) return "failed clean";
  if (text.startsWith("cancelled")) return "cancelled";
  if (text.includes("OVER")) return "over RSS";
  return "ok";
}

const width = Math.max(...cases.map((name) => name.length), "secret hits".length) + 2;
const columns = reports.map((report) => Math.max(report.driver.length, 12) + 2);
const line = (label, cells) =>
  `${label.padEnd(width)}${cells.map((text, i) => text.padEnd(columns[i])).join("")}`;
console.log(
  line(
    "case \\ driver",
    reports.map((report) => report.driver),
  ),
);
for (const name of cases) {
  console.log(
    line(
      name,
      reports.map((report) => cell(report.cases[name])),
    ),
  );
}
console.log(
  line(
    "secret hits",
    reports.map((report) => `${report.secrets.hits.length} of ${report.secrets.canaries}`),
  ),
);

let failed = 0;
for (const report of reports) {
  console.log(`\n${report.driver}:`);
  for (const [name, result] of Object.entries(report.cases)) {
    if (!result.ok && !result.outcome.startsWith("KNOWN ISSUE")) failed++;
    console.log(`  ${name}: ${result.outcome}`);
  }
  const { canaries, logLines, messages, hits } = report.secrets;
  console.log(
    `  secrets: ${hits.length} hits of ${canaries} secret values in ${logLines} plugin log lines and ${messages} error messages`,
  );
  for (const hit of hits) console.log(`    ${hit}`);
  failed += hits.length;
}
const hits = reports.reduce((sum, report) => sum + report.secrets.hits.length, 0);
console.log(
  `\nhardening: ${reports.length} drivers, ${cases.length} cases, ${failed} failures, ${hits} secret hits`,
);
if (failed > 0) process.exitCode = 1;
