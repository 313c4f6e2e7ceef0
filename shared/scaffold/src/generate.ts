import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sourceFiles } from "./files.js";
import { nameProblem, pascalCase } from "./names.js";
import { render, type TemplateValues } from "./render.js";

/** The skeleton every driver has, as files with `__name__`-style placeholders. */
export const TEMPLATE_DIR = fileURLToPath(new URL("../template", import.meta.url));

export interface SkeletonFile {
  content: string;
  /** Unix permission bits (setup-backend.sh is executable). */
  mode: number;
}

/** The placeholders' values for driver `name` in the repository at `repoRoot`. */
export async function templateValues(
  repoRoot: string,
  name: string,
  description = `Argo Workflows artifact driver plugin for ${name}.`,
): Promise<TemplateValues> {
  const dependency = async (packageJson: string, field: string, dependency: string) => {
    const manifest = JSON.parse(await readFile(join(repoRoot, packageJson), "utf8")) as Record<
      string,
      Record<string, string> | undefined
    >;
    const version = manifest[field]?.[dependency];
    if (version === undefined) throw new Error(`${packageJson} has no ${field}.${dependency}`);
    return version;
  };
  return {
    name,
    Name: pascalCase(name),
    description,
    // The driver's zod builds the schema the core reads: the same version.
    zodVersion: await dependency("shared/core/package.json", "dependencies", "zod"),
    vitestVersion: await dependency("package.json", "devDependencies", "vitest"),
  };
}

/** The template rendered for one driver: relative path → file. */
export async function renderSkeleton(values: TemplateValues): Promise<Map<string, SkeletonFile>> {
  const skeleton = new Map<string, SkeletonFile>();
  for (const path of await sourceFiles(TEMPLATE_DIR)) {
    const file = join(TEMPLATE_DIR, path);
    const content = render(await readFile(file, "utf8"), values, path);
    skeleton.set(path, { content, mode: (await stat(file)).mode & 0o777 });
  }
  return skeleton;
}

/**
 * Writes `drivers/<name>/` of the repository at `repoRoot` from the template
 * and formats it with the repository's biome (names change line lengths).
 * Returns the files written, relative to the driver's folder.
 */
export async function generateDriver(options: {
  repoRoot: string;
  name: string;
  description?: string;
}): Promise<string[]> {
  const { repoRoot, name } = options;
  const problem = nameProblem(name);
  if (problem) throw new Error(problem);
  const target = join(repoRoot, "drivers", name);
  if (existsSync(target)) throw new Error(`drivers/${name} exists already: choose another name`);
  const biome = join(repoRoot, "node_modules", ".bin", "biome");
  if (!existsSync(biome)) throw new Error(`${biome} is missing: run pnpm install first`);

  const skeleton = await renderSkeleton(await templateValues(repoRoot, name, options.description));
  // Not recursive: fails if another process created the folder meanwhile.
  await mkdir(target);
  for (const [path, file] of skeleton) {
    await mkdir(dirname(join(target, path)), { recursive: true });
    await writeFile(join(target, path), file.content, { mode: file.mode, flag: "wx" });
  }
  const formatted = spawnSync(biome, ["check", "--write", join("drivers", name)], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  if (formatted.status !== 0) {
    throw new Error(
      `biome could not format drivers/${name}:\n${formatted.stdout}${formatted.stderr}`,
    );
  }
  return [...skeleton.keys()];
}
