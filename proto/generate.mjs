#!/usr/bin/env node
// Regenerates shared/core/src/generated from artifact.proto with buf and the
// ts-proto plugin installed in node_modules (fully offline).
// With --check, generates into a temporary folder and fails if the committed
// output differs, so a stale generated file cannot land.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const protoDir = import.meta.dirname;
const committedDir = join(protoDir, "../shared/core/src/generated");
const buf = join(protoDir, "../node_modules/.bin/buf");
const check = process.argv.includes("--check");

const outDir = mkdtempSync(join(tmpdir(), "artifact-proto-"));
try {
  const template = readFileSync(join(protoDir, "buf.gen.yaml"), "utf8").replace(
    "out: ../shared/core/src/generated",
    `out: ${outDir}`,
  );
  execFileSync(buf, ["generate", "--template", template], { cwd: protoDir, stdio: "inherit" });
  // The reflection service needs the compiled descriptor; it ships beside the code.
  execFileSync(buf, ["build", "-o", join(outDir, "artifact.binpb")], { cwd: protoDir });

  const generated = readdirSync(outDir).sort();
  if (check) {
    const committed = readdirSync(committedDir).sort();
    const stale = generated.filter(
      (name) =>
        !committed.includes(name) ||
        !readFileSync(join(outDir, name)).equals(readFileSync(join(committedDir, name))),
    );
    const extra = committed.filter((name) => !generated.includes(name));
    if (stale.length > 0 || extra.length > 0) {
      console.error(
        `generated protobuf code is stale (${[...stale, ...extra].join(", ")}): run \`pnpm proto\` and commit the result`,
      );
      process.exit(1);
    }
    console.log("generated protobuf code is up to date");
  } else {
    rmSync(committedDir, { recursive: true, force: true });
    execFileSync("mkdir", ["-p", committedDir]);
    for (const name of generated) {
      writeFileSync(join(committedDir, name), readFileSync(join(outDir, name)));
    }
    console.log(`wrote ${generated.join(", ")} to shared/core/src/generated`);
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
