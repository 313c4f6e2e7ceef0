import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type InputFile, validateFiles } from "../src/registration/validate.js";
import { removeDir, runCli, tempDir } from "./helpers.js";
import { checkManifests, FIXTURES, INDEX, REPO } from "./registration-tools.js";

const INDEX_FILE = join(REPO, "index/drivers.json");
const PLANTED = join(FIXTURES, "validate");

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("validate-test-");
});
afterAll(async () => {
  await removeDir(scratch);
});

async function inputs(folder: string): Promise<InputFile[]> {
  const names = (await readdir(folder)).filter((name) => name.endsWith(".yaml")).sort();
  return Promise.all(
    names.map(async (name) => ({ path: name, text: await readFile(join(folder, name), "utf8") })),
  );
}

/** The fixtures mark each planted mistake: `# expect(<text pointed at>): <part of the message>`. */
function plantedMistakes(files: InputFile[]) {
  return files.flatMap((file) =>
    file.text.split("\n").flatMap((line, index) => {
      const marker = /# expect\((.+?)\): (.*)$/.exec(line);
      if (!marker) return [];
      const [, token = "", message = ""] = marker;
      return [{ file: file.path, line: index + 1, col: line.indexOf(token) + 1, message }];
    }),
  );
}

describe("validate finds the mistakes planted in real-looking workflow files", () => {
  test("each one, at its file, line and column, with the plugin's wording; nothing else", async () => {
    const files = await inputs(PLANTED);
    const planted = plantedMistakes(files);
    expect(planted.length).toBeGreaterThanOrEqual(15);
    const result = validateFiles(files, { index: INDEX });
    const found = result.findings.map(({ file, line, col, message }) => ({
      file,
      line,
      col,
      message,
    }));
    for (const mistake of planted) {
      expect(found, `${mistake.file}:${mistake.line}`).toContainEqual({
        ...mistake,
        message: expect.stringContaining(mistake.message),
      });
    }
    expect(found).toHaveLength(planted.length);
    // Every plugin block with a configuration, whichever its driver; the key-only one is counted apart.
    expect(result.checked).toBe(8);
    expect(result.keyOnly).toBe(1);
  });

  test("the planted files are otherwise valid Argo objects and ConfigMaps (strict decoding)", async () => {
    const { report } = await checkManifests(
      (await readdir(PLANTED)).map((name) => join(PLANTED, name)),
    );
    expect(report.problems).toEqual([]);
    expect(report.documents).toHaveLength(6);
    expect(report.drivers.map((driver) => driver.name)).toEqual([
      "s3-plugin",
      "webdav-plugin",
      "sftp",
      "gcs-plugin",
      "azure-plugin",
      "scratch",
    ]);
  });

  test("from the command line: file:line:column lines, a summary, exit status 1", async () => {
    const result = await runCli(["validate", "--index", INDEX_FILE, PLANTED]);
    expect(result.code).toBe(1);
    const out = result.stdout.toString();
    expect(out).toContain(
      `${join(PLANTED, "pipeline.yaml")}:37:17: unknown field "regoin"; did you mean "region"?\n    in WorkflowTemplate etl: spec.templates[extract].outputs.artifacts[raw].plugin (plugin "s3-plugin", driver s3)\n`,
    );
    expect(result.stderr).toContain(
      "validate: 17 problems in 3 files; 8 plugin configurations checked (and 1 key-only artifact, configured by the artifact repository)",
    );

    const github = await runCli([
      "validate",
      "--index",
      INDEX_FILE,
      "--format",
      "github",
      join(PLANTED, "repositories.yaml"),
      join(PLANTED, "controller.yaml"),
    ]);
    expect(github.stdout.toString().split("\n")[0]).toMatch(
      /^::error file=.*controller\.yaml,line=27,col=15,title=ConfigMap workflow-controller-configmap {2}data\.artifactRepository {2}plugin \(plugin "scratch" {2}driver local\)::field "root": must be an absolute path$/,
    );
    const json = await runCli([
      "validate",
      "--index",
      INDEX_FILE,
      "--format",
      "json",
      join(PLANTED, "repositories.yaml"),
      join(PLANTED, "controller.yaml"),
    ]);
    expect(JSON.parse(json.stdout.toString())).toMatchObject({
      checked: 3,
      keyOnly: 0,
      findings: expect.any(Array),
    });
  });
});

describe("validate resolves plugin names and secret sources", () => {
  const workflow = (name: string, configuration: string) => ({
    path: "wf.yaml",
    text: `kind: Workflow\nmetadata: {name: w}\nspec:\n  templates:\n    - name: t\n      outputs:\n        artifacts:\n          - name: a\n            plugin:\n              name: ${name}\n              key: k\n              configuration: |\n                ${configuration}\n`,
  });

  test("a name the index has, --plugin, and otherwise a finding that says what to pass", () => {
    expect(validateFiles([workflow("local", "root: /data")], { index: INDEX }).findings).toEqual(
      [],
    );
    const mapped = validateFiles([workflow("files", "root: data")], {
      index: INDEX,
      plugins: new Map([["files", "local"]]),
    });
    expect(mapped.findings.map((finding) => finding.message)).toEqual([
      'field "root": must be an absolute path',
    ]);
    const unknown = validateFiles([workflow("files", "root: data")], { index: INDEX });
    expect(unknown.findings).toEqual([
      expect.objectContaining({
        line: 10,
        col: 21,
        message:
          'which driver serves plugin "files"? Pass --plugin files=<driver> (one of azure, gcs, local, s3, sftp, webdav), or include the workflow-controller ConfigMap that registers it',
      }),
    ]);
  });

  test("{env} references only where --secret-sources allows them", () => {
    const file = workflow("local", "root: /data\n                parallelism: 4");
    const config = (reference: string) => ({
      ...file,
      text: workflow("s3", `bucket: artifacts\n                accessKeySecret: ${reference}`).text,
    });
    expect(
      validateFiles([config("{env: AWS_KEY}")], { index: INDEX }).findings.map(
        (finding) => finding.kind,
      ),
    ).toEqual(["secret-source"]);
    expect(
      validateFiles([config("{env: AWS_KEY}")], {
        index: INDEX,
        secretSources: new Set(["kubernetes", "env"]),
      }).findings,
    ).toEqual([]);
    expect(
      validateFiles([config("{file: /etc/key}")], {
        index: INDEX,
        secretSources: new Set(["kubernetes", "env"]),
      }).findings,
    ).toHaveLength(1);
  });

  test("Argo expressions are checked once Argo has replaced them, so not here; everything around them is", () => {
    const result = validateFiles(
      [
        workflow(
          "s3",
          "bucket: {{workflow.parameters.bucket}}\n                partSize: {{inputs.parameters.size}}\n                regoin: x",
        ),
      ],
      { index: INDEX },
    );
    expect(
      result.findings.map((finding) => `${finding.line}:${finding.col} ${finding.message}`),
    ).toEqual(['15:17 unknown field "regoin"; did you mean "region"?']);
  });

  test("a broken YAML file or configuration is reported where it breaks", () => {
    const broken = validateFiles(
      [{ path: "bad.yaml", text: "kind: Workflow\nspec: [unclosed\n" }],
      { index: INDEX },
    );
    expect(broken.findings[0]).toMatchObject({ file: "bad.yaml", line: 3, kind: "yaml" });
    const config = validateFiles([workflow("local", "root: [/data")], { index: INDEX });
    expect(config.findings).toEqual([
      expect.objectContaining({
        line: 14,
        kind: "yaml",
        message: expect.stringContaining("configuration is not valid YAML or JSON"),
      }),
    ]);
  });
});

/** The README's fenced YAML blocks, each as a file whose lines are the README's lines. */
async function readmeBlocks(): Promise<{ blocks: InputFile[]; readme: string }> {
  const readme = await readFile(join(REPO, "README.md"), "utf8");
  const lines = readme.split("\n");
  const blocks: InputFile[] = [];
  let start = -1;
  lines.forEach((line, index) => {
    if (start < 0 && /^\s*```yaml$/.test(line)) start = index + 1;
    else if (start >= 0 && /^\s*```$/.test(line)) {
      const indent = /^\s*/.exec(lines[start - 1] ?? "")?.[0].length ?? 0;
      const body = lines.slice(start, index).map((text) => text.slice(indent));
      blocks.push({ path: "README.md", text: `${"\n".repeat(start)}${body.join("\n")}\n` });
      start = -1;
    }
  });
  return { blocks, readme };
}

describe("the README's examples", () => {
  test("every plugin configuration in them is valid", async () => {
    const { blocks, readme } = await readmeBlocks();
    const result = validateFiles(blocks, { index: INDEX });
    expect(result.findings).toEqual([]);
    const configurations = blocks.reduce(
      (count, block) => count + (block.text.match(/^\s*configuration: \|/gm)?.length ?? 0),
      0,
    );
    expect(result.checked).toBe(configurations);
    expect(result.checked).toBeGreaterThanOrEqual(3);
    expect(readme).toContain("<!-- validate-example -->");
  });

  test("the walkthrough's workflows and ConfigMaps decode strictly into Argo's and Kubernetes' types", async () => {
    const { readme } = await readmeBlocks();
    const examples = [...readme.matchAll(/<!-- validate-example -->\n```yaml\n([\s\S]*?)```/g)].map(
      (match) => match[1] ?? "",
    );
    expect(examples).toHaveLength(3);
    const file = join(scratch, "readme-examples.yaml");
    await writeFile(file, examples.join("---\n"));
    const { report } = await checkManifests([file]);
    expect(report.problems).toEqual([]);
    expect(report.documents.map((document) => document.kind)).toEqual([
      "argoproj.io/v1alpha1/Workflow",
      "v1/ConfigMap",
      "argoproj.io/v1alpha1/Workflow",
    ]);
  });

  test("the manifests shown are what the command shown writes", async () => {
    const { readme } = await readmeBlocks();
    const command =
      /<!-- manifests-command -->\n```sh\n(artifact-client manifests [\s\S]*?--output plugins)\n/.exec(
        readme,
      )?.[1];
    expect(command).toBeDefined();
    const args = (command ?? "").replace(/\\\n/g, " ").split(/\s+/).slice(1);
    const output = join(scratch, "readme-plugins");
    const result = await runCli([...args.slice(0, -1), output, "--index", INDEX_FILE]);
    expect(result.code).toBe(0);
    const shown = [...readme.matchAll(/<!-- manifests:([\w.-]+) -->\n```yaml\n([\s\S]*?)```/g)];
    expect(shown.map((match) => match[1]).sort()).toEqual((await readdir(output)).sort());
    for (const [, name = "", text] of shown) {
      expect(text, name).toBe(await readFile(join(output, name), "utf8"));
    }
  });

  test("the validate run shown is what validate prints for those mistakes", async () => {
    const { readme } = await readmeBlocks();
    const workflow = /<!-- validate-example -->\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const console = /```console\n\$ (artifact-client validate .*)\n([\s\S]*?)```/.exec(readme);
    expect(console).not.toBeNull();
    const [, command = "", output = ""] = console ?? [];
    // The mistakes the README shows: a typo and a secret written inline.
    await writeFile(
      join(scratch, "report.yaml"),
      workflow
        .replace("bucket: artifacts", "bukcet: artifacts")
        .replace(
          "secretKeySecret: {name: minio-credentials, key: secretkey}",
          "secretKeySecret: hunter2",
        ),
    );
    const plugins = join(scratch, "plugins");
    await runCli([
      "manifests",
      "--driver",
      "s3",
      "--name",
      "s3-plugin",
      "--image",
      "registry.example.com/argo-artifact-drivers/s3:0.1.0",
      "--output",
      plugins,
    ]);
    const result = await runCli([...command.split(" ").slice(1), "--index", INDEX_FILE], {
      cwd: scratch,
    });
    expect(`${result.stdout.toString()}${result.stderr}`).toBe(output);
  });
});
