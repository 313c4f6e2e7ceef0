import { type Document, isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import { type Position, type SourceText, stringValue, valueNode } from "./yaml-source.js";

/** A `plugin:` block of an artifact, an archive location or an artifact repository. */
export interface PluginUse {
  source: SourceText;
  node: YAMLMap;
  /** e.g. `Workflow etl-: spec.templates[produce].outputs.artifacts[report].plugin` */
  where: string;
}

/** An `artifactDrivers` entry of a workflow-controller ConfigMap. */
export interface Registration {
  name: string;
  image: string;
  where: string;
  position: Position;
}

/** Something in the files that is wrong before any configuration is read. */
export interface StructureProblem {
  position: Position;
  where: string;
  message: string;
}

export interface Found {
  uses: PluginUse[];
  registrations: Registration[];
  problems: StructureProblem[];
}

/** The ConfigMap keys that hold YAML Argo reads, and so must parse. */
const YAML_KEYS = new Set(["config", "artifactRepository", "artifactDrivers"]);
const PLUGIN_FIELDS = ["name", "configuration", "key", "keyFormat"];

/**
 * Every `plugin:` block and plugin registration in one YAML document: a
 * Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow (any
 * depth: templates, steps, DAG tasks, arguments, archive locations, defaults),
 * a ConfigMap (workflow-controller: `config`, `artifactRepository`,
 * `artifactDrivers`; artifact-repositories: one repository per key), or any
 * other YAML holding them, such as Helm values.
 */
export function findInDocument(document: Document.Parsed, source: SourceText): Found {
  const found: Found = { uses: [], registrations: [], problems: [] };
  const root = document.contents;
  const label = documentLabel(root);
  if (stringValue(valueNode(root, "kind")) === "ConfigMap") {
    const data = valueNode(root, "data");
    if (isMap(data)) {
      for (const pair of data.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : "";
        if (isScalar(pair.value) && typeof pair.value.value === "string") {
          inConfigMapValue(found, source, pair.value, key, `${label}: data.${key}`);
        }
      }
    }
    return found;
  }
  walk(found, source, root, [label === "" ? "" : `${label}:`]);
  return found;
}

function inConfigMapValue(
  found: Found,
  source: SourceText,
  scalar: Parameters<SourceText["inner"]>[0],
  key: string,
  where: string,
): void {
  const inner = source.inner(scalar);
  const document = inner.document();
  if (document.errors.length > 0) {
    // Other keys may hold plain strings that are not YAML at all.
    if (YAML_KEYS.has(key)) {
      const error = document.errors[0];
      if (error) {
        found.problems.push({
          position: inner.errorPosition(error),
          where,
          message: `not valid YAML, so Argo cannot read it: ${error.message.split("\n")[0]}`,
        });
      }
    }
    return;
  }
  const contents = document.contents;
  if (key === "artifactDrivers") registrations(found, inner, contents, where);
  if (key === "config") {
    const drivers = valueNode(contents, "artifactDrivers");
    if (drivers) registrations(found, inner, drivers, `${where}.artifactDrivers`);
  }
  walk(found, inner, contents, [`${where}:`]);
}

function registrations(found: Found, source: SourceText, node: Node | null, where: string): void {
  if (!isSeq(node)) {
    found.problems.push({
      position: source.positionOf(node),
      where,
      message: "artifactDrivers must be a list of {name, image} entries",
    });
    return;
  }
  node.items.forEach((item, index) => {
    const name = stringValue(valueNode(item as Node, "name"));
    const image = stringValue(valueNode(item as Node, "image"));
    const at = `${where}[${name ?? index}]`;
    if (name === undefined || image === undefined) {
      found.problems.push({
        position: source.positionOf(item as Node),
        where: at,
        message: "an artifactDrivers entry needs a name and an image",
      });
      return;
    }
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) || name.length > 47) {
      found.problems.push({
        position: source.positionOf(valueNode(item as Node, "name")),
        where: at,
        message: `plugin name "${name}" cannot name Argo's volume artifact-plugin-${name}: use at most 47 lowercase letters, digits and '-'`,
      });
    }
    found.registrations.push({ name, image, where: at, position: source.positionOf(item as Node) });
  });
}

function walk(
  found: Found,
  source: SourceText,
  node: Node | null | undefined,
  path: string[],
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "?";
      const value = pair.value as Node | null;
      if (key === "plugin" && isPluginBlock(value)) {
        found.uses.push({ source, node: value, where: render([...path, key]) });
      } else {
        walk(found, source, value, [...path, key]);
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const name = stringValue(valueNode(item as Node, "name"));
      const last = path.length - 1;
      const indexed = [...path];
      indexed[last] = `${path[last]}[${name ?? index}]`;
      walk(found, source, item as Node, indexed);
    });
  }
}

/** An artifact plugin's fields, all scalars (an executor plugin template holds mappings instead). */
function isPluginBlock(node: Node | null): node is YAMLMap {
  if (!isMap(node) || node.items.length === 0) return false;
  const keys = node.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : ""));
  return (
    keys.some((key) => PLUGIN_FIELDS.includes(key)) &&
    node.items.every((pair) => pair.value === null || isScalar(pair.value))
  );
}

function render(path: string[]): string {
  const [first = "", ...rest] = path;
  return first.endsWith(":")
    ? `${first} ${rest.join(".")}`
    : [first, ...rest].filter(Boolean).join(".");
}

function documentLabel(root: Node | null): string {
  const kind = stringValue(valueNode(root, "kind"));
  if (!kind) return "";
  const metadata = valueNode(root, "metadata");
  const name =
    stringValue(valueNode(metadata, "name")) ?? stringValue(valueNode(metadata, "generateName"));
  return name ? `${kind} ${name}` : kind;
}
