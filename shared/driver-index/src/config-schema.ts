import { commonConfig, type DriverDefinition } from "@argo-artifact-drivers/core";
import { z } from "zod";

/** A JSON Schema object, as z.toJSONSchema writes it. */
export type JsonSchema = Record<string, unknown>;

/** Where every index schema keeps the shape of a secret field. */
export const SECRET_REF = "#/$defs/secretKeySelector";

/**
 * Argo's SecretKeySelector: what the registration manifests allow
 * (ARTIFACT_DRIVER_SECRET_SOURCES=kubernetes). `{env}` and `{file}` references
 * exist only where an operator enables them, so editors should not offer them.
 */
const secretKeySelector: JsonSchema = {
  type: "object",
  title: "Kubernetes Secret reference",
  description:
    "Key `key` of Secret `name` in the pod's namespace, read by the plugin with the pod's service account",
  properties: {
    name: { type: "string", minLength: 1, description: "Name of a Secret in the pod's namespace" },
    key: { type: "string", minLength: 1, description: "Key inside that Secret" },
  },
  required: ["name", "key"],
  additionalProperties: false,
};

/**
 * The JSON Schema of one driver's whole configuration (its fields and the
 * core's common ones), generated from the zod shape, the single source.
 * Secret fields become `$ref`s to `secretKeySelector`; custom messages of the
 * zod checks travel as `patternErrorMessage` / `errorMessage` (what VS Code's
 * YAML and JSON servers show) and `x-errorMessages` (keyword -> message, what
 * `artifact-client validate` shows), so that offline checks say what the
 * plugin says.
 */
export function configurationSchema(driver: DriverDefinition): JsonSchema {
  const schema = z.strictObject({ ...driver.config, ...commonConfig });
  const json = z.toJSONSchema(schema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "throw",
    override: ({ zodSchema, jsonSchema }) => {
      if (isSecretRef(zodSchema)) {
        for (const key of Object.keys(jsonSchema)) {
          if (key !== "description") delete jsonSchema[key];
        }
        jsonSchema.$ref = SECRET_REF;
        return;
      }
      addMessages(zodSchema, jsonSchema);
    },
  }) as JsonSchema;
  const { $schema, ...rest } = json;
  return {
    $schema,
    title: `${driver.name} artifact driver configuration`,
    description: `The configuration string of a plugin: artifact or artifact repository served by the ${driver.name} driver, as YAML or JSON.`,
    ...rest,
    $defs: { secretKeySelector },
  };
}

/** The core's secretRef(): a union of `{name, key}`, `{env}` and `{file}` objects piped into a transform. */
function isSecretRef(schema: z.core.$ZodType): boolean {
  const def = schema._zod.def;
  if (def.type !== "pipe" || !("in" in def)) return false;
  const input = (def.in as z.core.$ZodType)._zod.def;
  if (input.type !== "union" || !("options" in input)) return false;
  const keys = (input.options as z.core.$ZodType[]).map((option) =>
    option instanceof z.ZodObject ? Object.keys(option.shape).sort().join(",") : "",
  );
  return keys.join("|") === "key,name|env|file";
}

/** The JSON Schema keyword each zod check turns into. */
function keywordOf(check: z.core.$ZodCheckDef & { format?: string }): string | undefined {
  switch (check.check) {
    case "string_format":
      return ["regex", "starts_with", "ends_with", "includes"].includes(check.format ?? "")
        ? "pattern"
        : "format";
    case "multiple_of":
      return "multipleOf";
    case "greater_than":
      return "minimum";
    case "less_than":
      return "maximum";
    case "min_length":
      return "minLength";
    case "max_length":
      return "maxLength";
    default:
      return undefined;
  }
}

function customMessage(error: unknown): string | undefined {
  if (typeof error !== "function") return undefined;
  const message: unknown = error({});
  return typeof message === "string" ? message : undefined;
}

function addMessages(schema: z.core.$ZodType, json: JsonSchema): void {
  const messages: Record<string, string> = {};
  const def = schema._zod.def;
  // A message given to the type itself (z.url({error})) answers all of its own checks.
  const own = customMessage(def.error);
  if (own) {
    messages.type = own;
    if (json.format !== undefined) messages.format = own;
    if (json.enum !== undefined) messages.enum = own;
  }
  // JSON Schema's "uri" format takes any scheme; z.url({protocol}) does not.
  const protocol = (def as { protocol?: unknown }).protocol;
  if (protocol instanceof RegExp && json.pattern === undefined) {
    json.pattern = `^(?:${protocol.source.replace(/^\^|\$$/g, "")}):`;
    if (own) messages.pattern = own;
  }
  for (const check of def.checks ?? []) {
    const checkDef = check._zod.def as z.core.$ZodCheckDef & { format?: string };
    const keyword = keywordOf(checkDef);
    const message = customMessage(checkDef.error);
    if (keyword && message && json[keyword] !== undefined) messages[keyword] = message;
  }
  if (Object.keys(messages).length === 0) return;
  json["x-errorMessages"] = messages;
  if (messages.pattern) json.patternErrorMessage = messages.pattern;
  if (messages.format) json.errorMessage = messages.format;
}

/** The dotted paths of every secret field in a configuration schema, e.g. `encryptionOptions.serverSideCustomerKeySecret`. */
export function secretFields(schema: JsonSchema, prefix = ""): string[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(properties).flatMap(([name, property]) => {
    const path = prefix === "" ? name : `${prefix}.${name}`;
    if (property.$ref === SECRET_REF) return [path];
    return property.type === "object" ? secretFields(property, path) : [];
  });
}
