import { Help } from "commander";
import { describe, expect, test } from "vitest";
import { runCli } from "./helpers.js";

const WIDTH = 80;

/**
 * Lines of rendered help that a reader sees broken in the middle of a
 * sentence: wider than the terminal (it breaks them anywhere), or ended
 * although the next word would still have fitted, which no wrapper does, so
 * the text was wrapped by hand and then wrapped again. A line may end early
 * at the end of a sentence, a heading (`:`) or a shell continuation (`\`).
 */
function brokenLines(help: string, width = WIDTH): string[] {
  const lines = help.split("\n");
  const found: string[] = [];
  const prefix = (line: string) => /^\s*(# )?/.exec(line)?.[0] ?? "";
  lines.forEach((line, index) => {
    if (line.length > width) found.push(`${line.length} columns: ${JSON.stringify(line)}`);
    const next = lines[index + 1];
    if (next === undefined || line.trim() === "" || next.trim() === "") return;
    const own = prefix(line);
    const nextPrefix = prefix(next);
    // The next line continues this one's text when it hangs deeper (an option's
    // description) or shares its prose prefix (a paragraph, a comment in an example).
    const continues =
      nextPrefix.length > own.length || (nextPrefix === own && (own === "" || own.endsWith("# ")));
    if (!continues || /[.:!?\\]$/.test(line)) return;
    const word = next.slice(nextPrefix.length).split(/\s/)[0] ?? "";
    if (line.length + 1 + word.length <= width) {
      found.push(`ends before "${word}", which fits: ${JSON.stringify(line)}`);
    }
  });
  return found;
}

async function help(args: string[]): Promise<string> {
  // Piped, not a terminal: commander renders at its default 80 columns.
  const result = await runCli([...args, "--help"]);
  expect(result.code).toBe(0);
  return result.stdout.toString();
}

describe("help text at 80 columns", () => {
  test("the check finds text wrapped by hand and then by commander", () => {
    const handWrapped = `Asks the plugin to download the key to a local path (the Load RPC, what Argo's init
container does for every input artifact).`;
    const rendered = new Help().boxWrap(handWrapped, WIDTH);
    expect(brokenLines(rendered)).toEqual(['ends before "container", which fits: "init"']);
    expect(brokenLines(new Help().boxWrap(handWrapped.replace("\n", " "), WIDTH))).toEqual([]);
    expect(
      brokenLines(
        `  artifact-client save --socket /tmp/local.sock --config local.yaml --key demo/site`,
      ),
    ).toHaveLength(1);
  });

  test("no line of any command's help breaks mid-sentence", async () => {
    const overview = await help([]);
    const commands = [...overview.matchAll(/^ {2}([a-z-]+) \[options\]/gm)].map(
      (match) => match[1] ?? "",
    );
    expect(commands).toEqual([
      "save",
      "load",
      "cat",
      "put",
      "ls",
      "is-dir",
      "rm",
      "caps",
      "manifests",
      "validate",
    ]);
    const broken: Record<string, string[]> = {};
    for (const command of ["", ...commands]) {
      const lines = brokenLines(command === "" ? overview : await help([command]));
      if (lines.length > 0) broken[command || "(overview)"] = lines;
    }
    expect(broken).toEqual({});
  });
});
