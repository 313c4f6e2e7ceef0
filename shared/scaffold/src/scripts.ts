import { existsSync, readFileSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { sourceFiles } from "./files.js";

/** Shell builtins a script may start with. */
const BUILTINS = new Set(["cd", "echo", "exit", "export", "test", "[", "true", "false", "set"]);
/** Programs whose last argument is what they create, or whose arguments all are. */
const WRITES_LAST = new Set(["cp", "mv", "ln", "install"]);
const WRITES_ALL = new Set(["mkdir", "touch", "rm"]);
/** A token that names a file, by its slash or its extension. */
const PATH_LIKE = /\/|\.(m?js|cjs|m?ts|sh|json|ya?ml|py|go|binpb)$/;

interface Manifest {
  scripts?: Record<string, string>;
  bin?: string | Record<string, string>;
  main?: string;
  exports?: unknown;
}

/**
 * What does not exist among the things the package.json files of the
 * repository at `repoRoot` point at: the programs and files of every script,
 * and the `bin`, `main` and `exports` targets. Built files (`dist/x.js`) count
 * as present when their source (`src/x.ts`) is. One line per problem.
 */
export async function scriptProblems(repoRoot: string): Promise<string[]> {
  const manifests = (await sourceFiles(repoRoot)).filter(
    (path) => path === "package.json" || path.endsWith("/package.json"),
  );
  const parsed = manifests.map((path) => ({
    path,
    dir: join(repoRoot, dirname(path)),
    manifest: JSON.parse(readFileSync(join(repoRoot, path), "utf8")) as Manifest,
  }));
  const scriptNames = new Set(
    parsed.flatMap(({ manifest }) => Object.keys(manifest.scripts ?? {})),
  );
  const problems: string[] = [];
  for (const { path, dir, manifest } of parsed) {
    for (const [script, command] of Object.entries(manifest.scripts ?? {})) {
      for (const problem of commandProblems(command, dir, repoRoot, scriptNames)) {
        problems.push(`${path} script "${script}" (${command}): ${problem}`);
      }
    }
    const targets = [
      ...(typeof manifest.bin === "string" ? [manifest.bin] : Object.values(manifest.bin ?? {})),
      ...(manifest.main === undefined ? [] : [manifest.main]),
      ...strings(manifest.exports),
    ];
    for (const target of targets) {
      if (!fileExists(dir, target))
        problems.push(`${path} points at ${target}, which does not exist`);
    }
  }
  return problems;
}

/** What a script's command names that does not exist, relative to its package folder `dir`. */
export function commandProblems(
  command: string,
  dir: string,
  repoRoot: string,
  scriptNames: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const segment of command.split(/&&|\|\||;|\|/)) {
    const words = withoutRedirections(shellWords(segment));
    while (words[0] !== undefined && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) words.shift();
    const [program, ...args] = words;
    if (program === undefined) continue;
    if (program.includes("/") ? !fileExists(dir, program) : !programExists(program, dir, repoRoot))
      problems.push(`no program ${program}`);
    // Files a command creates need not exist before it runs.
    const operands = WRITES_ALL.has(program)
      ? []
      : WRITES_LAST.has(program)
        ? args.slice(
            0,
            args.findLastIndex((arg) => !arg.startsWith("-")),
          )
        : args;
    for (const arg of operands) {
      if (arg.startsWith("-") || arg.startsWith("@") || arg.includes("=") || arg.includes("://"))
        continue;
      if (PATH_LIKE.test(arg) && !fileExists(dir, arg)) problems.push(`no file ${arg}`);
    }
    if (program === "turbo" && args[0] === "run") {
      for (const task of args.slice(1).filter((arg) => !arg.startsWith("-"))) {
        if (!scriptNames.has(task)) problems.push(`no package has a script "${task}" for turbo`);
      }
    }
  }
  return problems;
}

/** `path` relative to `dir` exists, or is built output (`dist/...`) of a source that does. */
function fileExists(dir: string, path: string): boolean {
  if (existsSync(resolve(dir, path))) return true;
  if (!/(^|\/)dist(\/|$)/.test(path)) return false;
  const source = path
    .replace(/(^|\/)dist(\/|$)/, "$1src$2")
    .replace(/\.d\.ts$/, ".ts")
    .replace(/\.js$/, ".ts");
  return existsSync(resolve(dir, source));
}

function programExists(program: string, dir: string, repoRoot: string): boolean {
  if (BUILTINS.has(program)) return true;
  const folders = [
    join(dir, "node_modules", ".bin"),
    join(repoRoot, "node_modules", ".bin"),
    ...(process.env.PATH ?? "").split(delimiter).filter((folder) => folder !== ""),
  ];
  return folders.some((folder) => existsSync(join(folder, program)));
}

/** Splits a command into words as sh does for plain quoting (no expansions). */
function shellWords(text: string): string[] {
  const words: string[] = [];
  for (const match of text.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
    words.push(match[1] ?? match[2] ?? match[3] ?? "");
  }
  return words;
}

/** Drops `>file`, `2>&1`, `> file` and the like: targets of redirections may not exist yet. */
function withoutRedirections(words: string[]): string[] {
  const kept: string[] = [];
  for (let index = 0; index < words.length; index++) {
    const word = words[index] ?? "";
    if (/^\d*(>>?|<)(&\d+)?$/.test(word)) index++;
    else if (!/^\d*(>>?|<)/.test(word)) kept.push(word);
  }
  return kept;
}

function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(strings);
  return [];
}
