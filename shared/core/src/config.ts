import { closest, distance } from "fastest-levenshtein";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { DriverError } from "./errors.js";

/** Fields every driver accepts, defined once here. */
export const commonConfig = {
  parallelism: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(8)
    .describe("How many files of a directory artifact are transferred at once"),
  retry: z
    .strictObject({
      attempts: z
        .number()
        .int()
        .min(1)
        .max(20)
        .default(5)
        .describe("Tries in all, the first included"),
      initialDelaySeconds: z
        .number()
        .min(0)
        .max(60)
        .default(1)
        .describe("Wait before the first retry"),
      factor: z
        .number()
        .min(1)
        .max(10)
        .default(1.6)
        .describe("Each wait is this many times the previous one"),
    })
    .prefault({})
    .describe(
      "Retries of transient failures (5xx, throttling, reset connections), like Argo's executor",
    ),
};

export type CommonConfig = z.output<z.ZodObject<typeof commonConfig>>;

/** A validated configuration: the driver's fields plus the common ones. */
export type ParsedConfig = CommonConfig & Record<string, unknown>;

/**
 * Parses and validates configuration strings against one driver's schema,
 * caching results by the exact string: a sidecar sees the same few
 * configurations on every call.
 */
export class ConfigParser {
  private readonly schema: z.ZodObject;
  private readonly cache = new Map<string, ParsedConfig>();

  constructor(
    driverShape: z.ZodRawShape,
    private readonly maxEntries = 64,
  ) {
    this.schema = z.strictObject({ ...driverShape, ...commonConfig });
  }

  parse(text: string): ParsedConfig {
    const cached = this.cache.get(text);
    if (cached) return cached;
    const parsed = this.validate(parseConfigText(text));
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(text, parsed);
    return parsed;
  }

  private validate(value: unknown): ParsedConfig {
    // reportInput only tells a missing field from a wrong one; inputs are never printed.
    const result = this.schema.safeParse(value, { reportInput: true });
    if (result.success) return result.data as ParsedConfig;
    const problems = result.error.issues.map((issue) => describeIssue(issue, this.schema));
    throw new DriverError("invalid-config", `invalid configuration: ${problems.join("; ")}`);
  }
}

/** YAML (a superset of JSON) into a plain object; an empty string is `{}`. */
function parseConfigText(text: string): unknown {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true, maxAliasCount: 50 });
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : "";
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new DriverError(
      "invalid-config",
      `invalid configuration: not valid YAML or JSON${where}: ${reason}`,
    );
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new DriverError(
      "invalid-config",
      "invalid configuration: expected a mapping of fields (YAML or JSON object)",
    );
  }
  return value;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "the configuration" : `field "${path.map(String).join(".")}"`;
}

function describeIssue(issue: z.core.$ZodIssue, schema: z.ZodType): string {
  if (issue.code === "unrecognized_keys") {
    const known = knownFields(schema, issue.path);
    return issue.keys
      .map((key) => {
        const place = issue.path.length === 0 ? "" : ` in ${fieldName(issue.path)}`;
        const suggestion = suggest(key, known);
        return `unknown field "${key}"${place}${suggestion ? `; did you mean "${suggestion}"?` : ""}`;
      })
      .join("; ");
  }
  if (issue.code === "invalid_type" && issue.input === undefined) {
    return `${fieldName(issue.path)} is required`;
  }
  return `${fieldName(issue.path)}: ${issue.message}`;
}

function suggest(key: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(key, known);
  return distance(key.toLowerCase(), best.toLowerCase()) <= Math.max(2, Math.floor(key.length / 3))
    ? best
    : undefined;
}

/** The field names of the object schema found at `path`, through wrappers. */
function knownFields(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.core.$ZodType | undefined = schema;
  for (const segment of [...path, undefined]) {
    current = unwrap(current);
    if (!(current instanceof z.ZodObject)) return [];
    if (segment === undefined) return Object.keys(current.shape);
    current = current.shape[String(segment)];
  }
  return [];
}

function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let current = schema;
  for (;;) {
    const def = current?._zod.def;
    if (!def) return current;
    if ("innerType" in def) current = def.innerType as z.core.$ZodType;
    else if (def.type === "pipe" && "in" in def) current = def.in as z.core.$ZodType;
    else return current;
  }
}
