import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";
import type { JsonSchema } from "./driver-index.js";

export type Path = (string | number)[];
export type SecretSource = "kubernetes" | "env" | "file";

export type ProblemKind =
  | "unknown-field"
  | "required"
  | "invalid"
  | "inline-secret"
  | "secret-source";

export interface ConfigProblem {
  kind: ProblemKind;
  /** Where in the configuration: for an unknown or missing field, the path of that field. */
  path: Path;
  /** What to point at: the key at `path` (unknown fields), its value, or the mapping missing it. */
  anchor: "key" | "value" | "parent";
  message: string;
}

/** The index schemas' secret fields (see index/README.md). */
const SECRET_REF = "#/$defs/secretKeySelector";
/** Field names that usually hold credentials, for unknown fields written with a plain value. */
const SECRET_NAME =
  /pass(word|wd|phrase)|secret|token|credential|private.?key|access.?key|api.?key|sas/i;
/** `scheme://user:password@` */
const URL_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/\s@]*:[^/\s@]*@/i;
/**
 * Argo replaces `{{...}}` before the plugin sees the configuration, so such
 * values are only known at run time. Masked as `$(...)$`, the same length,
 * they parse as plain strings wherever they stand.
 */
export function maskExpressions(text: string): string {
  return text.replace(/\{\{(.*?)\}\}/g, (_, inner: string) => `$(${inner})$`);
}

function isExpression(text: string): boolean {
  return text.includes("{{") || /\$\(.*?\)\$/.test(text);
}

/**
 * Checks parsed configurations against a driver's JSON Schema from the index,
 * offline, with the wording the plugin's own ConfigParser uses (unknown field
 * ... did you mean, field ... is required, field ...: what is wrong), plus
 * what only a registration can know: secrets written inline instead of as
 * references, and reference kinds the plugin does not allow.
 */
export class ConfigChecker {
  private readonly zodSchema: z.ZodType;

  constructor(
    private readonly schema: JsonSchema,
    private readonly allowedSources: ReadonlySet<SecretSource> = new Set(["kubernetes"]),
  ) {
    this.zodSchema = z.fromJSONSchema(schema as z.core.JSONSchema.JSONSchema);
  }

  check(value: unknown): ConfigProblem[] {
    if (!isRecord(value)) {
      return [
        {
          kind: "invalid",
          path: [],
          anchor: "value",
          message: "expected a mapping of fields (YAML or JSON object)",
        },
      ];
    }
    const copy = structuredClone(value);
    const expressions: Path[] = [];
    const problems: ConfigProblem[] = [];
    walkStrings(copy, [], (text, path) => {
      if (isExpression(text)) expressions.push(path);
      else if (URL_CREDENTIALS.test(text)) {
        problems.push({
          kind: "inline-secret",
          path,
          anchor: "value",
          message: `${fieldName(path)} has a user name and password written into the URL; remove them and use the driver's secret fields, which refer to a Kubernetes Secret`,
        });
      }
    });
    problems.push(...this.secretProblems(this.schema, copy, []));
    const result = this.zodSchema.safeParse(copy, { reportInput: true });
    if (result.success) return problems;
    const add = (problem: ConfigProblem) => {
      // A URL fails both its format and its scheme pattern, with the driver's one message.
      const same = problems.some(
        (known) =>
          known.message === problem.message && known.path.join(".") === problem.path.join("."),
      );
      if (!same) problems.push(problem);
    };
    for (const issue of result.error.issues) {
      const path = issue.path.map((segment) =>
        typeof segment === "number" ? segment : String(segment),
      );
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) add(this.unknownField(copy, path, key));
        continue;
      }
      // Known only once Argo has substituted the expression.
      if (expressions.some((prefix) => startsWith(path, prefix))) continue;
      if (issue.code === "invalid_type" && issue.input === undefined) {
        add({
          kind: "required",
          path,
          anchor: "parent",
          message: `${fieldName(path)} is required`,
        });
        continue;
      }
      const custom = this.customMessage(path, issue);
      add({
        kind: "invalid",
        path,
        anchor: "value",
        message: `${fieldName(path)}: ${custom ?? issue.message}`,
      });
    }
    return problems;
  }

  /** Secret fields holding values, or references the plugin refuses; each is replaced by a valid reference so it is reported once. */
  private secretProblems(
    schema: JsonSchema,
    value: Record<string, unknown>,
    at: Path,
  ): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    for (const [name, property] of Object.entries(properties(schema))) {
      const path = [...at, name];
      const field = value[name];
      if (field === undefined) continue;
      if (property.$ref === SECRET_REF) {
        if (field === null || typeof field !== "object") {
          problems.push({
            kind: "inline-secret",
            path,
            anchor: "value",
            message: `${fieldName(path)} holds a secret written inline; keep the value in a Kubernetes Secret and refer to it: ${name}: {name: <Secret>, key: <key in the Secret>}`,
          });
          value[name] = { name: "placeholder", key: "placeholder" };
        } else if (isRecord(field) && ("env" in field || "file" in field)) {
          const kind: SecretSource = "env" in field ? "env" : "file";
          if (!this.allowedSources.has(kind)) {
            problems.push({
              kind: "secret-source",
              path,
              anchor: "value",
              message: `${fieldName(path)} is a {${kind}: ...} reference, which the plugin refuses unless its operator allows ${kind} in ARTIFACT_DRIVER_SECRET_SOURCES (the registration manifests allow kubernetes only); use a Kubernetes Secret reference {name, key}`,
            });
          }
          value[name] = { name: "placeholder", key: "placeholder" };
        }
      } else if (isRecord(field) && property.type === "object") {
        problems.push(...this.secretProblems(property, field, path));
      }
    }
    return problems;
  }

  private unknownField(value: unknown, parent: Path, key: string): ConfigProblem {
    const path = [...parent, key];
    const place = parent.length === 0 ? "" : ` in ${fieldName(parent)}`;
    const known = Object.keys(properties(this.schemaAt(parent)));
    const suggestion = suggest(key, known);
    let message = `unknown field "${key}"${place}${suggestion ? `; did you mean "${suggestion}"?` : ""}`;
    const written = valueAt(value, path);
    if (SECRET_NAME.test(key) && written !== null && typeof written !== "object") {
      // `password` is far from `passwordSecret` by edit distance, but that is the field meant.
      const field =
        suggestion ?? known.find((name) => name.toLowerCase() === `${key.toLowerCase()}secret`);
      const hint = `t looks like a secret written inline: keep the value in a Kubernetes Secret and refer to it with ${field ? `${field}: ` : ""}{name, key}`;
      message += suggestion ? ` I${hint}` : `; i${hint}`;
      return { kind: "inline-secret", path, anchor: "key", message };
    }
    return { kind: "unknown-field", path, anchor: "key", message };
  }

  /** The driver's own message for a failed check, carried by the index schema as x-errorMessages. */
  private customMessage(path: Path, issue: z.core.$ZodIssue): string | undefined {
    const messages = this.schemaAt(path)["x-errorMessages"] as Record<string, string> | undefined;
    if (!messages) return undefined;
    const origin = "origin" in issue ? issue.origin : undefined;
    const bound = origin === "string" ? "Length" : origin === "array" ? "Items" : "";
    const keywords: Partial<Record<z.core.$ZodIssue["code"], string>> = {
      invalid_type: "type",
      invalid_value: "enum",
      invalid_format: "format" in issue && issue.format === "regex" ? "pattern" : "format",
      not_multiple_of: "multipleOf",
      too_small: bound ? `min${bound}` : "minimum",
      too_big: bound ? `max${bound}` : "maximum",
    };
    const keyword = keywords[issue.code];
    return keyword ? messages[keyword] : undefined;
  }

  private schemaAt(path: Path): JsonSchema {
    let node = this.schema;
    for (const segment of path) {
      node = this.resolve(properties(node)[String(segment)] ?? {});
    }
    return this.resolve(node);
  }

  private resolve(node: JsonSchema): JsonSchema {
    const ref = node.$ref;
    if (typeof ref !== "string" || !ref.startsWith("#/$defs/")) return node;
    const defs = (this.schema.$defs ?? {}) as Record<string, JsonSchema>;
    return { ...(defs[ref.slice("#/$defs/".length)] ?? {}), ...node, $ref: undefined };
  }
}

function properties(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema.properties ?? {}) as Record<string, JsonSchema>;
}

/** How the plugin names a field in its messages. */
export function fieldName(path: Path): string {
  return path.length === 0 ? "the configuration" : `field "${path.map(String).join(".")}"`;
}

/** The plugin's rule: the closest known field, if it is close enough to be a typo. */
function suggest(key: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(key, known);
  return distance(key.toLowerCase(), best.toLowerCase()) <= Math.max(2, Math.floor(key.length / 3))
    ? best
    : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.every((segment, index) => String(path[index]) === String(segment));
}

function walkStrings(value: unknown, path: Path, visit: (text: string, path: Path) => void): void {
  if (typeof value === "string") visit(value, path);
  else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) walkStrings(item, [...path, index], visit);
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) walkStrings(item, [...path, key], visit);
  }
}
