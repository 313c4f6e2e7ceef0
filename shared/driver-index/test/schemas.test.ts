import { ConfigChecker } from "@argo-artifact-drivers/client";
import { commonConfig, type DriverDefinition, SecretRef } from "@argo-artifact-drivers/core";
import { describe, expect, test } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
// The core's package exports no ConfigParser; its build is read directly so
// that offline checks are compared with what the plugin itself answers.
import { ConfigParser } from "../../core/dist/config.js";
import { configurationSchema, type JsonSchema, secretFields } from "../src/index.js";

const NAMES = ["azure", "gcs", "local", "s3", "sftp", "webdav"] as const;
const drivers: Record<string, DriverDefinition> = {};
for (const name of NAMES) {
  drivers[name] = (
    (await import(`@argo-artifact-drivers/driver-${name}`)) as { driver: DriverDefinition }
  ).driver;
}

type Value = Record<string, unknown>;

/** Where the plugin's answer cannot be had offline, and why. */
const KNOWN_DIFFERENCES: Record<string, Record<string, string>> = {
  webdav: {
    // zod names a record a record; JSON Schema knows only objects.
    "headers: a string": '"expected record" is "expected object" offline',
  },
};

/** One wrong configuration per way a field can be wrong, from its schema. */
function mistakes(schema: JsonSchema, at: string[] = []): { what: string; value: Value }[] {
  const cases: { what: string; value: Value }[] = [];
  const nest = (path: string[], leaf: unknown): Value =>
    path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), leaf) as Value;
  for (const [name, raw] of Object.entries(
    (schema.properties ?? {}) as Record<string, JsonSchema>,
  )) {
    const field = raw;
    const path = [...at, name];
    const put = (what: string, leaf: unknown) =>
      cases.push({ what: `${path.join(".")}: ${what}`, value: nest(path, leaf) });
    if (name.length > 3) {
      const written = field.$ref ? { name: "s", key: "k" } : 1;
      cases.push({
        what: `${path.join(".")}: typo`,
        value: nest([...at, name.slice(0, -1)], written),
      });
    }
    if (field.$ref) continue; // secret fields: the offline check says more than the plugin (client tests)
    const type = field.type;
    if (type === "string") {
      put("a number", 12345);
      if (field.pattern || field.format) put("no match", "!! not this !!");
      if (field.enum) put("not an option", "nope");
      if (typeof field.minLength === "number" && field.minLength > 1) put("too short", "x");
    }
    if (type === "number" || type === "integer") {
      put("a string", "twelve");
      if (type === "integer") put("a fraction", 1.5);
      if (typeof field.minimum === "number") put("too small", field.minimum - 1);
      if (typeof field.maximum === "number" && field.maximum < Number.MAX_SAFE_INTEGER)
        put("too big", field.maximum + 1);
      if (typeof field.multipleOf === "number" && typeof field.minimum === "number")
        put("not a multiple", field.minimum + 1);
    }
    if (type === "boolean") put("a string", "yes");
    if (type === "object") {
      put("a string", "flat");
      if (field.properties) cases.push(...mistakes(field, path));
      else put("a wrong value", { "X-Header": 5 });
    }
  }
  return cases;
}

function pluginMessage(driver: DriverDefinition, value: Value): string {
  try {
    new ConfigParser(driver.config).parse(stringify(value));
    return "valid";
  } catch (error) {
    return (error as Error).message;
  }
}

function offlineMessage(schema: JsonSchema, value: Value): string {
  const problems = new ConfigChecker(schema).check(value);
  return problems.length === 0
    ? "valid"
    : `invalid configuration: ${problems.map((problem) => problem.message).join("; ")}`;
}

describe.each(NAMES)("the %s driver's JSON Schema", (name) => {
  const driver = drivers[name] as DriverDefinition;
  const schema = configurationSchema(driver);

  test("has every field of the driver and the core, with its description and requiredness", () => {
    const shape = { ...driver.config, ...commonConfig };
    const properties = schema.properties as Record<string, JsonSchema>;
    expect(Object.keys(properties)).toEqual(Object.keys(shape));
    for (const field of Object.keys(shape)) {
      expect(properties[field]?.description, field).toEqual(expect.any(String));
    }
    // The plugin answers "is required" for exactly the schema's required fields.
    const missing = pluginMessage(driver, {}).match(/field "([^"]+)" is required/g) ?? [];
    expect(missing.map((text) => text.split('"')[1]).sort()).toEqual(
      [...((schema.required as string[] | undefined) ?? [])].sort(),
    );
  });

  test("marks exactly the fields that take a secret reference", () => {
    const takesReference = (field: z.core.$ZodType): boolean => {
      const result = z.safeParse(field as z.ZodType, { name: "s", key: "k" });
      return result.success && result.data instanceof SecretRef;
    };
    const found: string[] = [];
    const visit = (shape: z.ZodRawShape, prefix: string) => {
      for (const [field, type] of Object.entries(shape)) {
        if (takesReference(type)) found.push(`${prefix}${field}`);
        let inner: z.core.$ZodType = type;
        while ("innerType" in inner._zod.def) inner = inner._zod.def.innerType as z.core.$ZodType;
        if (inner instanceof z.ZodObject) visit(inner.shape, `${prefix}${field}.`);
      }
    };
    visit(driver.config, "");
    expect(secretFields(schema).sort()).toEqual(found.sort());
  });

  test("gives the plugin's own messages for every kind of mistake, checked offline", () => {
    const cases = mistakes(schema);
    expect(cases.length).toBeGreaterThan(10);
    const results = cases.map(({ what, value }) => ({
      what,
      plugin: pluginMessage(driver, value),
      offline: offlineMessage(schema, value),
    }));
    const known = KNOWN_DIFFERENCES[name] ?? {};
    expect(
      results.filter((result) => result.plugin !== result.offline && !(result.what in known)),
    ).toEqual([]);
    // Each known difference still exists; when one is gone, remove it from the list.
    for (const what of Object.keys(known)) {
      const result = results.find((each) => each.what === what);
      expect(result && result.plugin !== result.offline, what).toBe(true);
    }
  });
});
