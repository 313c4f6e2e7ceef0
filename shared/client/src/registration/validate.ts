import { isMap, isScalar, isSeq, type Node } from "yaml";
import {
  ConfigChecker,
  type ConfigProblem,
  maskExpressions,
  type ProblemKind,
  type SecretSource,
} from "./config-check.js";
import { type DriverIndex, driverOfImage, findDriver, type IndexedDriver } from "./driver-index.js";
import { findInDocument, type PluginUse, type Registration } from "./find-plugins.js";
import { keyNode, type Position, SourceText, stringValue, valueNode } from "./yaml-source.js";

export interface ValidateOptions {
  index: DriverIndex;
  /** Plugin name -> driver name, from the command line; wins over registrations. */
  plugins?: ReadonlyMap<string, string>;
  /** Secret reference kinds the plugins allow (ARTIFACT_DRIVER_SECRET_SOURCES); default kubernetes. */
  secretSources?: ReadonlySet<SecretSource>;
}

export interface Finding {
  file: string;
  line: number;
  col: number;
  kind: ProblemKind | "yaml" | "plugin";
  /** What is wrong, in the plugin's words where it is about the configuration. */
  message: string;
  /** Which document and which part of it. */
  where: string;
}

export interface ValidateResult {
  findings: Finding[];
  /** Plugin configurations checked against a driver's schema. */
  checked: number;
  /** Key-only plugin artifacts, whose configuration comes from the artifact repository. */
  keyOnly: number;
}

export interface InputFile {
  path: string;
  text: string;
}

/**
 * Finds every plugin configuration in the files and checks it offline
 * against its driver's schema from the index. Plugin names resolve to
 * drivers through `options.plugins`, else the `artifactDrivers`
 * registrations found in the files (by image), else a driver of that name.
 */
export function validateFiles(
  files: readonly InputFile[],
  options: ValidateOptions,
): ValidateResult {
  const findings: Finding[] = [];
  const uses: { file: string; use: PluginUse }[] = [];
  const registrations: Registration[] = [];
  for (const file of files) {
    const source = SourceText.ofFile(file.text);
    for (const document of source.documents()) {
      const error = document.errors[0];
      if (error) {
        const at = source.errorPosition(error);
        findings.push({
          file: file.path,
          ...at,
          kind: "yaml",
          where: "",
          message: `not valid YAML: ${error.message.split("\n")[0]}`,
        });
        continue;
      }
      const found = findInDocument(document, source);
      for (const problem of found.problems) {
        findings.push({
          file: file.path,
          ...problem.position,
          kind: "plugin",
          where: problem.where,
          message: problem.message,
        });
      }
      registrations.push(...found.registrations);
      uses.push(...found.uses.map((use) => ({ file: file.path, use })));
    }
  }
  const resolver = new DriverResolver(options, registrations);
  const checkers = new Map<string, ConfigChecker>();
  let checked = 0;
  let keyOnly = 0;
  for (const { file, use } of uses) {
    const report = (
      position: Position,
      kind: Finding["kind"],
      message: string,
      where = use.where,
    ) => findings.push({ file, ...position, kind, message, where });
    const nameNode = valueNode(use.node, "name");
    const name = stringValue(nameNode);
    const configuration = valueNode(use.node, "configuration");
    if (configuration === undefined) {
      keyOnly += 1;
      continue;
    }
    const at = use.source.positionOf(configuration);
    if (name === undefined) {
      report(
        use.source.positionOf(use.node),
        "plugin",
        "the plugin has no name: set plugin.name to a name registered in artifactDrivers",
      );
      continue;
    }
    const driver = resolver.driver(name);
    const where = `${use.where} (plugin "${name}"${driver.entry ? `, driver ${driver.entry.name}` : ""})`;
    if (driver.problem) report(use.source.positionOf(nameNode), "plugin", driver.problem, where);
    if (!driver.entry) continue;
    if (!isScalar(configuration) || typeof configuration.value !== "string") {
      report(
        at,
        "plugin",
        "configuration must be a string (Argo hands it to the plugin as text): write it as a block, configuration: |",
        where,
      );
      continue;
    }
    let checker = checkers.get(driver.entry.name);
    if (!checker) {
      checker = new ConfigChecker(driver.entry.configuration, options.secretSources);
      checkers.set(driver.entry.name, checker);
    }
    checked += 1;
    const inner = use.source.inner(configuration).masked(maskExpressions);
    const document = inner.document();
    const error = document.errors[0];
    if (error) {
      report(
        inner.errorPosition(error),
        "yaml",
        `configuration is not valid YAML or JSON: ${error.message.split("\n")[0]}`,
        where,
      );
      continue;
    }
    const value = document.contents === null ? {} : document.toJS();
    for (const problem of checker.check(value)) {
      report(
        problemPosition(problem, document.contents, inner, at),
        problem.kind,
        problem.message,
        where,
      );
    }
  }
  findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
  return { findings, checked, keyOnly };
}

/** Where a configuration problem is in the file: the field's key or value, or the mapping missing it. */
function problemPosition(
  problem: ConfigProblem,
  root: Node | null,
  inner: SourceText,
  fallback: Position,
): Position {
  if (!isMap(root)) return fallback;
  const last = problem.path[problem.path.length - 1];
  let parent: Node | undefined = root;
  for (const segment of problem.path.slice(0, -1)) parent = childNode(parent, segment);
  if (!parent) return inner.positionOf(root);
  if (problem.anchor === "parent" || last === undefined) return inner.positionOf(parent);
  const node = problem.anchor === "key" ? keyNode(parent, String(last)) : childNode(parent, last);
  return inner.positionOf(node ?? parent);
}

function childNode(node: Node | undefined, segment: string | number): Node | undefined {
  if (isSeq(node) && typeof segment === "number") return (node.items[segment] as Node) ?? undefined;
  return valueNode(node, String(segment));
}

/** Which driver serves a plugin name. */
class DriverResolver {
  private readonly registered = new Map<string, Registration>();

  constructor(
    private readonly options: ValidateOptions,
    registrations: readonly Registration[],
  ) {
    for (const registration of registrations) this.registered.set(registration.name, registration);
  }

  driver(name: string): { entry?: IndexedDriver; problem?: string } {
    const { index } = this.options;
    const known = index.drivers.map((driver) => driver.name).join(", ");
    const named = this.options.plugins?.get(name);
    if (named !== undefined) {
      const entry = findDriver(index, named);
      return entry
        ? { entry }
        : {
            problem: `--plugin ${name}=${named}: the index has no driver "${named}" (it has ${known})`,
          };
    }
    const registration = this.registered.get(name);
    const byImage = registration && driverOfImage(index, registration.image);
    if (byImage) return { entry: byImage };
    const entry = findDriver(index, name);
    if (registration) {
      return entry
        ? { entry }
        : {
            problem: `plugin "${name}" is registered with image ${registration.image}, which is no driver of the index; pass --plugin ${name}=<driver> (one of ${known})`,
          };
    }
    const problem =
      this.registered.size > 0
        ? `plugin "${name}" is not registered in the artifactDrivers found (${[...this.registered.keys()].join(", ")}): Argo fails the step`
        : undefined;
    if (entry) return problem ? { entry, problem } : { entry };
    return {
      problem:
        problem ??
        `which driver serves plugin "${name}"? Pass --plugin ${name}=<driver> (one of ${known}), or include the workflow-controller ConfigMap that registers it`,
    };
  }
}
