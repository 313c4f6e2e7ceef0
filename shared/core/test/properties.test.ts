// Property-based tests of the two parsers that see untrusted input first: the
// key validator and the configuration parser. A fixed budget of runs each; a
// failure prints its seed and shrunk counterexample (replay with FC_SEED=<seed>).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigParser } from "../src/config.js";
import { DriverError } from "../src/errors.js";
import { normalizeKey } from "../src/keys.js";
import { isTempName } from "../src/temp-names.js";

const RUNS = 2000;
const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const budget = { numRuns: RUNS, ...(seed === undefined ? {} : { seed }) };

/** What normalizeKey does with `raw`: the key, or the refusal. */
function outcome(raw: string): { key?: string; error?: DriverError } {
  try {
    return { key: normalizeKey(raw) };
  } catch (error) {
    if (!(error instanceof DriverError)) throw error;
    return { error };
  }
}

/** Characters keys are made of, weighted towards the ones the rules are about. */
const keyChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(..."abcXYZ019-_.~%+#?@ é😀") },
  { weight: 3, arbitrary: fc.constantFrom("/", ".", "..") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("\\", "\0", "\n", "\t", "\u007f", "\u0085", "\u202e", "\u2066"),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 2 }) },
);
const rawKey = fc.array(keyChar, { maxLength: 40 }).map((parts) => parts.join(""));
const FORBIDDEN = /[\\\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

describe("normalizeKey (properties)", () => {
  it("refuses with an invalid-key error naming the key, or returns a key that breaks no rule", () => {
    fc.assert(
      fc.property(rawKey, (raw) => {
        const { key, error } = outcome(raw);
        if (error) {
          expect(error.code).toBe("invalid-key");
          expect(error.message).toContain("invalid key ");
          expect(error.message.length).toBeLessThan(2048);
          return;
        }
        if (key === undefined) throw new Error("neither a key nor an error");
        expect(key).not.toBe("");
        expect(key).not.toMatch(FORBIDDEN);
        expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
        for (const segment of key.split("/")) {
          expect(["", ".", ".."]).not.toContain(segment);
          expect(isTempName(segment)).toBe(false);
        }
        // One leading and one trailing slash are all that is taken away.
        expect([key, `/${key}`, `${key}/`, `/${key}/`]).toContain(raw);
      }),
      budget,
    );
  });

  it("is idempotent: a normalized key normalizes to itself", () => {
    fc.assert(
      fc.property(rawKey, (raw) => {
        const { key } = outcome(raw);
        if (key !== undefined) expect(normalizeKey(key)).toBe(key);
      }),
      budget,
    );
  });

  it("accepts every key made of safe segments, unchanged", () => {
    const segment = fc
      .string({ unit: fc.constantFrom(..."abz09-_ .é%+#"), minLength: 1, maxLength: 12 })
      .filter((s) => s !== "." && s !== ".." && !isTempName(s));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (segments) => {
        const key = segments.join("/");
        expect(normalizeKey(key)).toBe(key);
        expect(normalizeKey(`/${key}/`)).toBe(key);
      }),
      budget,
    );
  });

  it("refuses any otherwise valid key once a forbidden character or a climbing segment is put in it", () => {
    const bad = fc.constantFrom(
      "\\",
      "\0",
      "\n",
      "\u0001",
      "\u009b",
      "\u202e",
      "\u2069",
      "/../",
      "//",
    );
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(..."abc/"), maxLength: 20 }),
        bad,
        fc.nat(),
        (base, inserted, at) => {
          const cut = at % (base.length + 1);
          const raw = `k${base.slice(0, cut)}${inserted}${base.slice(cut)}k`;
          const { error } = outcome(raw);
          expect(error?.code).toBe("invalid-key");
        },
      ),
      budget,
    );
  });
});

const CANARY = "s3cr3t-canary-value";
const parser = new ConfigParser({
  bucket: z.string().min(1).describe("Bucket"),
  endpoint: z.string().url().optional(),
  pathStyle: z.boolean().default(false),
  region: z.string().optional(),
});

/** What the parser does with `text`: the configuration, or the refusal. */
function parsed(text: string): { config?: Record<string, unknown>; error?: DriverError } {
  try {
    return { config: parser.parse(text) };
  } catch (error) {
    if (!(error instanceof DriverError)) throw error;
    return { error };
  }
}

/** Any JSON-like value, nested a little, with the canary among the strings. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(CANARY),
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
  ),
  node: fc.oneof(
    { depthSize: "small" },
    tie("leaf"),
    fc.array(tie("node"), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("node"), { maxKeys: 3 }),
  ),
})).node;
const fieldName = fc.oneof(
  fc.constantFrom("bucket", "endpoint", "pathStyle", "region", "parallelism", "retry"),
  fc.string({ maxLength: 10 }),
);

describe("ConfigParser (properties)", () => {
  it("any text: a configuration or an invalid-config error, never another failure", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        const { config, error } = parsed(text);
        if (error) expect(error.code).toBe("invalid-config");
        else expect(typeof config?.bucket).toBe("string");
      }),
      budget,
    );
  });

  it("any mapping of fields: refusals name a field and never echo a value", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fieldName, value, { maxKeys: 5 }),
        fc.boolean(),
        (fields, asJson) => {
          const text = asJson
            ? JSON.stringify(fields)
            : Object.entries(fields)
                .map(([name, v]) => `${JSON.stringify(name)}: ${JSON.stringify(v)}`)
                .join("\n");
          const { error } = parsed(text);
          if (!error) return;
          expect(error.code).toBe("invalid-config");
          expect(error.message).toMatch(/^invalid configuration: /);
          expect(error.message).toMatch(
            /field "|unknown field|the configuration|not valid YAML|mapping|nested|bytes/,
          );
          // A value may only appear where it is also a field name (which is named on purpose).
          if (!Object.keys(fields).some((name) => name.includes(CANARY)))
            expect(error.message).not.toContain(CANARY);
        },
      ),
      budget,
    );
  });

  it("valid configurations parse to their values, with the common defaults", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        (bucket, pathStyle, parallelism) => {
          const config = parser.parse(JSON.stringify({ bucket, pathStyle, parallelism }));
          expect(config).toMatchObject({ bucket, pathStyle, parallelism, retry: { attempts: 5 } });
        },
      ),
      budget,
    );
  });

  it("deep or huge input is refused quickly, before parsing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 33, max: 20_000 }),
        fc.constantFrom("[", "{a: "),
        (depth, open) => {
          const close = open === "[" ? "]" : "}";
          const started = performance.now();
          const { error } = parsed(`bucket: b\nx: ${open.repeat(depth)}1${close.repeat(depth)}`);
          expect(error?.message).toMatch(/nested more than 32 levels|more than the 65536 allowed/);
          // Parsed, 20,000 levels took about half a second of the shared event loop.
          expect(performance.now() - started).toBeLessThan(200);
        },
      ),
      { ...budget, numRuns: 100 },
    );
  });
});
