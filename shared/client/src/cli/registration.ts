import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { SecretSource } from "../registration/config-check.js";
import { type DriverIndex, findDriver, loadDriverIndex } from "../registration/driver-index.js";
import {
  joinDocuments,
  type ManifestFormat,
  renderManifests,
} from "../registration/manifest-formats.js";
import { type ManifestOptions, PLUGIN_NAME, type PluginSpec } from "../registration/manifests.js";
import { type InputFile, type ValidateResult, validateFiles } from "../registration/validate.js";
import { EXIT, helpAfter, UsageError } from "./common.js";

const GROUP = "Registering plugins (no plugin needed):";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `manifests` and `validate`: what it takes to register a plugin in Argo and to check workflows offline. */
export function addRegistrationCommands(program: Command): void {
  addManifests(program);
  addValidate(program);
}

function indexOption(): Option {
  return new Option(
    "--index <file>",
    "a driver index file (index/drivers.json format; default: the index this client was built with)",
  );
}

function readIndex(path: string | undefined): DriverIndex {
  try {
    return loadDriverIndex(path);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

interface ManifestsFlags {
  driver: string[];
  name?: string[];
  image?: string[];
  namespace: string;
  workflowNamespace?: string[];
  serviceAccount?: string[];
  secret?: string[];
  format: ManifestFormat;
  output?: string;
  connectionTimeout?: number;
  cpuRequest: string;
  memoryRequest: string;
  memoryLimit: string;
  workflowAmbient?: "allow" | "deny";
  otelEndpoint?: string;
  otelProtocol?: "grpc" | "http/protobuf";
  index?: string;
}

function addManifests(program: Command): void {
  program
    .command("manifests")
    .helpGroup(GROUP)
    .summary("print what registers plugins in Argo (ConfigMap, argo-server, RBAC)")
    .description(
      "Prints everything a cluster needs to run artifact driver plugins: the workflow-controller ConfigMap's artifactDrivers entries (and each image's entrypoint), the argo-server Deployment patch that adds each plugin as a sidecar sharing the socket folder /tmp/artifact-plugins/<name> (non-root, read-only root file system, resources, ARTIFACT_DRIVER_SECRET_SOURCES=kubernetes, ARTIFACT_DRIVER_AMBIENT_CREDENTIALS=deny), and Roles that let the plugins read the Kubernetes Secrets their configurations refer to. Give --driver, --name and --image once per plugin, in the same order.",
    )
    .requiredOption("-d, --driver <driver>", "a driver of the index (repeatable), e.g. s3", collect)
    .option(
      "--name <plugin-name>",
      "the plugin's name in workflows (repeatable; default: the driver's name)",
      collect,
    )
    .option(
      "--image <reference>",
      "the image to run (repeatable; default: the index's published image)",
      collect,
    )
    .option(
      "--namespace <namespace>",
      "Argo's namespace (workflow-controller and argo-server)",
      "argo",
    )
    .option(
      "--workflow-namespace <namespace>",
      "a namespace workflows run in (repeatable; default: Argo's namespace)",
      collect,
    )
    .option(
      "--service-account <[namespace/]name>",
      "a service account of workflow or artifact GC pods (repeatable; default: default in each workflow namespace)",
      collect,
    )
    .option(
      "--secret <name>",
      "a Secret the configurations refer to (repeatable); the plugins may read these only",
      collect,
    )
    .addOption(
      new Option("-f, --format <format>", "yaml, a kustomize component, or helm values")
        .choices(["yaml", "kustomize", "helm"])
        .default("yaml"),
    )
    .option(
      "-o, --output <folder>",
      "write one file per part into this folder (needed for kustomize)",
    )
    .option(
      "--connection-timeout <seconds>",
      "connectionTimeoutSeconds of each registration (Argo's default: 5)",
      positiveInteger,
    )
    .option("--cpu-request <quantity>", "CPU request of each argo-server sidecar", "50m")
    .option("--memory-request <quantity>", "memory request of each argo-server sidecar", "96Mi")
    .option("--memory-limit <quantity>", "memory limit of each argo-server sidecar", "512Mi")
    .addOption(
      new Option(
        "--workflow-ambient <allow|deny>",
        "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS of workflow and GC pods, as the controller's executor.env (default: not written; the images allow them there; argo-server's sidecars get deny)",
      ).choices(["allow", "deny"]),
    )
    .option(
      "--otel-endpoint <url>",
      "OTEL_EXPORTER_OTLP_ENDPOINT of every plugin container, for OpenTelemetry traces and metrics: workflow and GC pods through the controller's executor.env (Argo's executor exports there too), and the argo-server sidecars (default: none, telemetry off)",
      otlpEndpoint,
    )
    .addOption(
      new Option(
        "--otel-protocol <protocol>",
        "OTEL_EXPORTER_OTLP_PROTOCOL beside --otel-endpoint (the plugins' default: grpc)",
      ).choices(["grpc", "http/protobuf"]),
    )
    .addOption(indexOption())
    .addHelpText(
      "after",
      helpAfter(
        [
          "Workflow pods get the plugin containers from Argo itself (only name and image are configurable, and the executor's environment applies), so the resources, security context and environment above apply to the argo-server sidecars; the images default to uid 8737 and ARTIFACT_DRIVER_SECRET_SOURCES=kubernetes anyway, and allow ambient credentials only in the plugin containers Argo adds to workflow pods.",
        ],
        `Examples:
  artifact-client manifests --driver s3 --name s3-plugin \\
      --image registry.example.com/argo-artifact-drivers/s3:0.1.0 \\
      --secret minio-credentials --workflow-namespace ci
  artifact-client manifests -f kustomize -o argo/plugins \\
      --driver s3 --image registry.example.com/argo/s3:0.1.0 \\
      --driver sftp --image registry.example.com/argo/sftp:0.1.0`,
      ),
    )
    .action(async (flags: ManifestsFlags) => {
      const files = renderManifests(manifestOptions(flags), flags.format);
      if (flags.output === undefined) {
        if (flags.format === "kustomize") {
          throw new UsageError("a kustomize component is a folder: add --output <folder>");
        }
        process.stdout.write(joinDocuments(files));
        return;
      }
      await mkdir(flags.output, { recursive: true });
      for (const file of files) await writeFile(join(flags.output, file.name), file.text);
      process.stderr.write(
        `wrote ${files.map((file) => join(flags.output ?? "", file.name)).join(", ")}\n`,
      );
    });
}

function manifestOptions(flags: ManifestsFlags): ManifestOptions {
  const index = readIndex(flags.index);
  const count = flags.driver.length;
  for (const [option, values] of [
    ["--name", flags.name],
    ["--image", flags.image],
  ] as const) {
    if (values !== undefined && values.length !== count) {
      throw new UsageError(
        `${option} was given ${values.length} times for ${count} --driver: give it once per --driver, in the same order, or not at all`,
      );
    }
  }
  const plugins: PluginSpec[] = flags.driver.map((name, position) => {
    const driver = findDriver(index, name);
    if (!driver) {
      throw new UsageError(
        `no driver "${name}" in the index; it has ${index.drivers.map((entry) => entry.name).join(", ")}`,
      );
    }
    const pluginName = flags.name?.[position] ?? driver.name;
    if (!PLUGIN_NAME.test(pluginName)) {
      throw new UsageError(
        `plugin name "${pluginName}": use 1-43 lowercase letters, digits and '-' (Argo names a volume and containers after it)`,
      );
    }
    const published = driver.image.registry
      ? `${driver.image.registry}/${driver.image.name}:${driver.image.tags[0]}`
      : undefined;
    const image = flags.image?.[position] ?? published;
    if (image === undefined) {
      throw new UsageError(
        `the ${driver.name} image is not published anywhere yet: build it (${driver.image.name}, see the index) and pass --image <your registry>/${driver.image.name}:${driver.image.tags[0]}`,
      );
    }
    return { driver, name: pluginName, image };
  });
  const names = plugins.map((plugin) => plugin.name);
  const twice = names.find((name, position) => names.indexOf(name) !== position);
  if (twice)
    throw new UsageError(`two plugins are named "${twice}": give each --driver its own --name`);
  if (flags.otelProtocol && !flags.otelEndpoint) {
    throw new UsageError("--otel-protocol needs --otel-endpoint, the collector's URL");
  }
  const workflowNamespaces = flags.workflowNamespace ?? [flags.namespace];
  const accounts = (flags.serviceAccount ?? ["default"]).flatMap((account) => {
    const [namespace, name] = account.includes("/") ? account.split("/", 2) : [undefined, account];
    return namespace
      ? [{ namespace, name: name ?? "" }]
      : workflowNamespaces.map((each) => ({ namespace: each, name: name ?? "" }));
  });
  return {
    plugins,
    namespace: flags.namespace,
    controllerConfigMap: "workflow-controller-configmap",
    serverDeployment: "argo-server",
    serverContainer: "argo-server",
    serverServiceAccount: "argo-server",
    workflowServiceAccounts: accounts,
    secrets: flags.secret ?? [],
    connectionTimeoutSeconds: flags.connectionTimeout,
    ...(flags.workflowAmbient ? { workflowAmbientCredentials: flags.workflowAmbient } : {}),
    ...(flags.otelEndpoint
      ? {
          telemetry: {
            endpoint: flags.otelEndpoint,
            ...(flags.otelProtocol ? { protocol: flags.otelProtocol } : {}),
          },
        }
      : {}),
    resources: {
      cpuRequest: flags.cpuRequest,
      memoryRequest: flags.memoryRequest,
      memoryLimit: flags.memoryLimit,
    },
  };
}

function otlpEndpoint(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw new InvalidArgumentError(
      "expected the collector's URL, e.g. http://otel-collector.observability:4317",
    );
  }
  return value;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new InvalidArgumentError("expected a whole number of seconds, 1 or more");
  }
  return number;
}

interface ValidateFlags {
  plugin?: string[];
  secretSources: string;
  format: "text" | "json" | "github";
  index?: string;
}

function addValidate(program: Command): void {
  program
    .command("validate")
    .helpGroup(GROUP)
    .summary("check plugin configurations in workflow files, offline")
    .description(
      "Finds every plugin: artifact and artifact repository in Workflows, WorkflowTemplates, ClusterWorkflowTemplates, CronWorkflows and ConfigMaps (the workflow-controller's artifactRepository and artifactDrivers, artifact-repositories) and checks each configuration against its driver's schema from the index, as the plugin would, without a cluster: unknown fields (with the closest known one), wrong types and values, missing fields, and secrets written inline instead of as Kubernetes Secret references. Prints file:line:column for each problem; exit status 1 when there is one, for CI.",
    )
    // The files are not a declared argument, which would widen the command
    // list of the overview for every command: the usage line says them.
    .usage("[options] <file...>")
    .allowExcessArguments()
    .option(
      "-p, --plugin <name=driver>",
      "the driver a plugin name runs (repeatable); otherwise taken from artifactDrivers in the files (by image), else a driver of that name",
      collect,
    )
    .option(
      "--secret-sources <list>",
      "the secret reference kinds the plugins allow, as ARTIFACT_DRIVER_SECRET_SOURCES",
      "kubernetes",
    )
    .addOption(
      new Option("--format <format>", "text, json, or github (workflow command annotations)")
        .choices(["text", "json", "github"])
        .default("text"),
    )
    .addOption(indexOption())
    .addHelpText(
      "after",
      helpAfter(
        ["Files are YAML (several documents each); folders are searched for *.yaml and *.yml."],
        `Examples:
  artifact-client validate workflows/ argo/workflow-controller-configmap.yaml
  artifact-client validate --plugin s3-plugin=s3 pipeline.yaml
  artifact-client validate --format github .argo/ # in a GitHub Actions step`,
      ),
    )
    .action(async (flags: ValidateFlags, command: Command) => {
      const paths = command.args;
      if (paths.length === 0) {
        throw new UsageError("give the YAML files to check, or folders holding them");
      }
      const index = readIndex(flags.index);
      const result = validateFiles(await readInputs(paths), {
        index,
        plugins: pluginFlags(flags.plugin ?? []),
        secretSources: secretSources(flags.secretSources),
      });
      process.stdout.write(formatResult(result, flags.format));
      process.stderr.write(`${resultSummary(result, paths.length)}\n`);
      if (result.findings.length > 0) process.exitCode = EXIT.failed;
    });
}

function pluginFlags(values: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const value of values) {
    const [name, driver] = value.split("=", 2);
    if (!name || !driver)
      throw new UsageError(`--plugin ${value}: expected <plugin name>=<driver>, e.g. s3-plugin=s3`);
    map.set(name, driver);
  }
  return map;
}

function secretSources(value: string): Set<SecretSource> {
  const sources = new Set<SecretSource>();
  for (const raw of value.split(",")) {
    const source = raw.trim();
    if (source === "") continue;
    if (source !== "kubernetes" && source !== "env" && source !== "file") {
      throw new UsageError(
        `--secret-sources: unknown source "${source}"; use a comma list of kubernetes, env, file`,
      );
    }
    sources.add(source);
  }
  return sources;
}

async function readInputs(paths: string[]): Promise<InputFile[]> {
  const files: InputFile[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new UsageError(`cannot read ${path}: no such file or folder`);
    if (info.isDirectory()) {
      const entries = await readdir(path, { recursive: true });
      for (const entry of entries.filter((name) => /\.ya?ml$/.test(name)).sort()) {
        files.push({ path: join(path, entry), text: await readFile(join(path, entry), "utf8") });
      }
    } else {
      files.push({ path, text: await readFile(path, "utf8") });
    }
  }
  return files;
}

function formatResult(result: ValidateResult, format: ValidateFlags["format"]): string {
  if (format === "json") return `${JSON.stringify(result, null, 2)}\n`;
  return result.findings
    .map((finding) => {
      if (format === "github") {
        const title = finding.where.replace(/[,:]/g, " ");
        return `::error file=${finding.file},line=${finding.line},col=${finding.col},title=${title}::${finding.message}\n`;
      }
      const where = finding.where === "" ? "" : `\n    in ${finding.where}`;
      return `${finding.file}:${finding.line}:${finding.col}: ${finding.message}${where}\n`;
    })
    .join("");
}

function resultSummary(result: ValidateResult, inputs: number): string {
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;
  const checked = `${plural(result.checked, "plugin configuration")} checked`;
  const keyOnly =
    result.keyOnly > 0
      ? ` (and ${plural(result.keyOnly, "key-only artifact")}, configured by the artifact repository)`
      : "";
  if (result.findings.length === 0) {
    return result.checked === 0
      ? `validate: no plugin configuration found in ${plural(inputs, "input")}${keyOnly}`
      : `validate: ${checked}, no problems${keyOnly}`;
  }
  const files = new Set(result.findings.map((finding) => finding.file)).size;
  return `validate: ${plural(result.findings.length, "problem")} in ${plural(files, "file")}; ${checked}${keyOnly}`;
}
