import { createHash } from "node:crypto";
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
 * caching results by the exact string (refusals briefly): a sidecar sees the
 * same few configurations on every call.
 */
export class ConfigParser {
  private readonly schema: z.ZodObject;
  /** Results by a hash of the text, so a cached entry costs the same whatever the text's size. */
  private readonly cache = new Map<
    string,
    { parsed?: ParsedConfig; failure?: DriverError; until: number }
  >();

  constructor(
    driverShape: z.ZodRawShape,
    private readonly maxEntries = 64,
    /** How long a refused configuration is answered from the cache (a busy UI retries the same one). */
    private readonly failureMs = 10_000,
  ) {
    this.schema = z.strictObject({ ...driverShape, ...commonConfig });
  }

  parse(text: string): ParsedConfig {
    const key = createHash("sha256").update(text).digest("base64");
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now()) {
      if (cached.failure) throw cached.failure;
      if (cached.parsed) return cached.parsed;
    }
    try {
      const parsed = this.validate(parseConfigText(text));
      this.remember(key, { parsed, until: Number.POSITIVE_INFINITY });
      return parsed;
    } catch (error) {
      if (error instanceof DriverError)
        this.remember(key, { failure: error, until: Date.now() + this.failureMs });
      throw error;
    }
  }

  private remember(
    key: string,
    entry: { parsed?: ParsedConfig; failure?: DriverError; until: number },
  ) {
    this.cache.delete(key);
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, entry);
  }

  private validate(value: unknown): ParsedConfig {
    // reportInput only tells a missing field from a wrong one; inputs are never printed.
    const result = this.schema.safeParse(value, { reportInput: true });
    if (result.success) return result.data as ParsedConfig;
    const problems = result.error.issues.map((issue) => describeIssue(issue, this.schema));
    throw new DriverError("invalid-config", `invalid configuration: ${problems.join("; ")}`);
  }
}

/**
 * The configuration string comes from workflow authors and is parsed on the
 * event loop every call shares: it is refused before parsing when it is
 * larger or deeper than any real configuration.
 */
const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_FLOW_DEPTH = 32;

/** YAML (a superset of JSON) into a plain object; an empty string is `{}`. */
function parseConfigText(text: string): unknown {
  if (text.trim() === "") return {};
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES) {
    throw new DriverError(
      "invalid-config",
      `invalid configuration: ${bytes} bytes, more than the ${MAX_CONFIG_BYTES} allowed`,
    );
  }
  if (flowDepth(text) > MAX_FLOW_DEPTH) {
    throw new DriverError(
      "invalid-config",
      `invalid configuration: nested more than ${MAX_FLOW_DEPTH} levels deep`,
    );
  }
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

/** The deepest nesting of `[` and `{` (block nesting is bounded by the size limit). */
function flowDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return deepest;
}
