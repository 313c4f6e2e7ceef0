#!/usr/bin/env node
// Prints the outcome of each Go test from `go test -json` output, and the
// output of failed ones, so the log reads like `go test -v`.
import { readFileSync } from "node:fs";

const output = new Map();
for (const line of readFileSync(process.argv[2], "utf8").split("\n")) {
  if (!line.startsWith("{")) {
    if (line.trim()) console.log(line);
    continue;
  }
  const event = JSON.parse(line);
  const name = `${event.Package ?? ""} ${event.Test ?? ""}`.trim();
  if (event.Action === "output") output.set(name, (output.get(name) ?? "") + event.Output);
  if (event.Test && ["pass", "fail", "skip"].includes(event.Action)) {
    console.log(`--- ${event.Action.toUpperCase()}: ${event.Test} (${event.Elapsed}s)`);
    if (event.Action === "fail") process.stdout.write(output.get(name) ?? "");
  }
  if (!event.Test && event.Action === "fail") process.stdout.write(output.get(name) ?? "");
}
