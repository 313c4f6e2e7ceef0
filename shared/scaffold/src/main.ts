#!/usr/bin/env node
// `pnpm new-driver <name> [--description <text>]`: writes drivers/<name>/.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { generateDriver } from "./generate.js";
import { nameProblem } from "./names.js";

const USAGE = `usage: pnpm new-driver <name> [--description <one sentence>]

Writes drivers/<name>/, a driver package of exactly the shape every driver has,
working on a folder backend so that it passes lint, type checks and the
conformance kit at once. <name> is lowercase letters, digits and hyphens.`;

/** This package lives in shared/scaffold of the repository it generates into. */
const repoRoot = resolve(import.meta.dirname, "../../..");

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    process.stderr.write(`new-driver: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [name = "", ...rest] = parsed.positionals;
  if (rest.length > 0) {
    process.stderr.write(
      `new-driver: one name only, got ${parsed.positionals.join(" ")}\n\n${USAGE}\n`,
    );
    return 2;
  }
  const problem = nameProblem(name);
  if (problem) {
    process.stderr.write(`new-driver: ${problem}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    const files = await generateDriver({ repoRoot, name, description: parsed.values.description });
    process.stdout.write(`created drivers/${name}/ (${files.length} files), on a folder backend:
  ${files.join("\n  ")}

Next:
  pnpm install                     # links the new package (and updates pnpm-lock.yaml)
  pnpm turbo run build --filter=@argo-artifact-drivers/driver-${name}...
  cd drivers/${name} && pnpm test  # the conformance kit against the folder backend

Then replace each BACKEND: comment with the backend's calls:
  grep -rn BACKEND: drivers/${name}
`);
    return 0;
  } catch (error) {
    process.stderr.write(`new-driver: ${(error as Error).message}\n`);
    return 1;
  }
}

function parse() {
  return parseArgs({
    options: {
      description: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
}

process.exitCode = await main();
