import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import type { DriverDefinition } from "@argo-artifact-drivers/core";
import { IsDirectoryRequest, IsDirectoryResponse } from "@argo-artifact-drivers/core/proto";
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { expect } from "vitest";
import { parse } from "yaml";
import { driverModule } from "../backend.js";
import { observedMessages } from "../hardening.js";
import type { Kit } from "../kit.js";

/** One hostile input: a configuration or a key (or raw request bytes), and what its error must name. */
interface BadInput {
  name: string;
  configuration?: string;
  key?: string;
  /** Request bytes to send as they are (invalid UTF-8, missing fields). */
  raw?: Buffer;
  /** The message must match this; "harmless": the call may also succeed, finding nothing. */
  expect: RegExp | "harmless";
}

const IS_DIRECTORY = "/artifact.ArtifactService/IsDirectory";
/** A value no message may echo; registered as a secret canary. */
const CANARY = `canary-${randomBytes(12).toString("hex")}`;
/** Wrong values tried for each of the driver's fields; the first two it refuses are used. */
const WRONG_VALUES: unknown[] = [
  12_345,
  true,
  { nested: { deep: CANARY } },
  [CANARY, 2],
  `${CANARY}\u0000`,
  "x".repeat(70_000),
];

/**
 * The hostile-input corpus, at least 50 entries per driver: malformed YAML,
 * wrong types, unknown fields, huge strings, deep nesting, NUL bytes, encoded
 * traversal, absolute paths, invalid UTF-8, an empty configuration, a missing
 * plugin message and bad keys, plus two wrong values and a misspelling of
 * each of the driver's own fields. Every one gets a clear error naming the
 * field or key (never a crash, never a secret echoed), and the server keeps
 * serving.
 */
export function badInputScenarios(kit: Kit): void {
  kit.hardeningCase(
    "bad inputs (50+)",
    "a corpus of hostile configurations, keys and requests: each a clear error, the server keeps serving",
    async () => {
      kit.hardening.canary(CANARY);
      const corpus = await buildCorpus(kit);
      expect(corpus.length).toBeGreaterThanOrEqual(50);
      const client = new Client(`unix:${kit.plugin.socketPath}`, credentials.createInsecure());
      const problems: string[] = [];
      let refused = 0;
      let harmless = 0;
      try {
        for (const input of corpus) {
          const message = await isDirectoryError(client, input, kit.configuration, kit.key("bad"));
          if (message !== undefined) observedMessages.push(message);
          if (kit.plugin.child.exitCode !== null) {
            problems.push(
              `${input.name}: the plugin exited: ${kit.plugin.logs.slice(-5).join("\n")}`,
            );
            break;
          }
          if (message === undefined) {
            if (input.expect === "harmless") harmless++;
            else problems.push(`${input.name}: accepted`);
            continue;
          }
          if (message.includes(CANARY)) problems.push(`${input.name}: the message echoes a secret`);
          const wanted = input.expect === "harmless" ? /invalid key|key/ : input.expect;
          if (!wanted.test(message)) problems.push(`${input.name}: ${wanted} not in: ${message}`);
          else refused++;
        }
      } finally {
        client.close();
      }
      expect(problems).toEqual([]);
      // Still serving, with the good configuration.
      expect(await kit.client.capabilities()).toEqual({ supportsSaveStream: true });
      expect(await kit.client.isDirectory(kit.key("bad/nothing"))).toBe(false);
      return `${corpus.length} inputs: ${refused} refused naming the field or key, ${harmless} harmless, 0 crashes`;
    },
  );
}

async function buildCorpus(kit: Kit): Promise<BadInput[]> {
  const base = parse(kit.configuration) as Record<string, unknown>;
  const good = (fields: Record<string, unknown>) => JSON.stringify({ ...base, ...fields });
  const config = (name: string, configuration: string, expected: RegExp): BadInput => ({
    name,
    configuration,
    expect: expected,
  });
  const key = (name: string, objectKey: string, expected: RegExp | "harmless"): BadInput => ({
    name,
    key: objectKey,
    expect: expected,
  });
  const invalid = /invalid configuration/;
  const corpus: BadInput[] = [
    config("YAML: unclosed flow sequence", `${kit.configuration}\nextra: [1, 2`, /not valid YAML/),
    config("YAML: unclosed mapping", "{a: 1", /not valid YAML/),
    config("YAML: bad indentation", "a:\n  b: 1\n c: 2", /not valid YAML/),
    config(
      "YAML: duplicate field",
      `${kit.configuration}\nparallelism: 2\nparallelism: 3`,
      /not valid YAML|unique/,
    ),
    config("YAML: tab indentation", "a:\n\t- b", /not valid YAML/),
    config("YAML: stray colon", "a: b: c", /not valid YAML/),
    config(
      "YAML: alias bomb",
      `a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [${"*b, ".repeat(60)}*b]`,
      invalid,
    ),
    config("YAML: undefined alias", "a: *nothing", /not valid YAML/),
    config("not a mapping: a list", "- a\n- b", /expected a mapping/),
    config("not a mapping: a number", "42", /expected a mapping/),
    config("not a mapping: text", "just some words", /expected a mapping/),
    config(
      "huge configuration (1 MiB)",
      `# ${"x".repeat(1024 * 1024)}`,
      /more than the 65536 allowed/,
    ),
    config(
      "huge field value (70 KB)",
      good({ parallelism: "9".repeat(70_000) }),
      /more than the 65536 allowed/,
    ),
    config(
      "deep flow nesting (2,000 levels)",
      `a: ${"[".repeat(2000)}${"]".repeat(2000)}`,
      /nested more than/,
    ),
    config(
      "deep nesting (40 levels of mappings)",
      `${"{a: ".repeat(40)}1${"}".repeat(40)}`,
      /nested more than/,
    ),
    config(
      "deep block nesting",
      Array.from({ length: 40 }, (_, i) => `${" ".repeat(i)}n${i}:`).join("\n"),
      /unknown field "n0"/,
    ),
    config("NUL byte in the text", `${kit.configuration}\nsurprise: a\u0000b`, invalid),
    config("NUL byte in a field name", good({ "bad\u0000field": 1 }), /unknown field "bad/),
    config("unknown field", good({ surprise: true }), /unknown field "surprise"/),
    config(
      "unknown field holding a secret",
      good({ password: CANARY }),
      /unknown field "password"/,
    ),
    config(
      "unknown nested field",
      good({ retry: { attemps: 3 } }),
      /unknown field "attemps".*did you mean "attempts"/,
    ),
    config("parallelism: text", good({ parallelism: "eight" }), /field "parallelism"/),
    config("parallelism: zero", good({ parallelism: 0 }), /field "parallelism"/),
    config("parallelism: huge", good({ parallelism: 1e12 }), /field "parallelism"/),
    config("parallelism: fraction", good({ parallelism: 2.5 }), /field "parallelism"/),
    config("retry: text", good({ retry: "often" }), /field "retry"/),
    config("retry.attempts: negative", good({ retry: { attempts: -1 } }), /field "retry.attempts"/),
    config("retry.factor: NaN-like", good({ retry: { factor: ".nan" } }), /field "retry.factor"/),
    config(
      "retry.initialDelaySeconds: a day",
      good({ retry: { initialDelaySeconds: 86_400 } }),
      /field "retry.initialDelaySeconds"/,
    ),
    config(
      "encoded traversal in a field name",
      good({ "%2e%2e/%2e%2e": 1 }),
      /unknown field "%2e%2e/,
    ),
    config(
      "absolute path as a field name",
      good({ "/etc/passwd": 1 }),
      /unknown field "\/etc\/passwd"/,
    ),
    key("key: empty", "", /invalid key ""/),
    key("key: only a slash", "/", /invalid key "\/"/),
    key("key: parent segment", "a/../../etc/passwd", /invalid key .*'\.\.' segment/),
    key("key: leading parent", "../x", /'\.\.' segment/),
    key("key: dot segment", "./a", /'\.' segment/),
    key("key: empty segment", "a//b", /empty segment/),
    key("key: absolute with empty segment", "//etc/passwd", /empty segment/),
    key("key: backslash traversal", "a\\..\\..\\etc\\passwd", /backslash/),
    key("key: Windows absolute path", "C:\\Windows\\system.ini", /backslash/),
    key("key: NUL byte", "a\u0000b", /NUL/),
    key("key: newline", "line\nbreak", /control character/),
    key("key: C1 control", "c1\u0085next", /control character/),
    key("key: right-to-left override", "invoice\u202efdp.exe", /bidirectional override/),
    key("key: 1,025 bytes", "k".repeat(1025), /longer than 1024 bytes/),
    key("key: a megabyte", "k".repeat(1024 * 1024), /longer than 1024 bytes/),
    // Percent signs are plain characters in keys: stored literally, never decoded into a climb.
    key("key: encoded traversal", `${kit.key("bad")}/%2e%2e/%2e%2e/etc/passwd`, "harmless"),
    key("key: absolute path", "/etc/passwd-not-here", "harmless"),
    {
      name: "invalid UTF-8 in the configuration",
      raw: request({ configuration: Buffer.from([0xff, 0xfe, 0x3a, 0x20, 0x31]), key: "a" }),
      expect: /unknown field|not valid YAML|invalid configuration/,
    },
    {
      name: "invalid UTF-8 in the key",
      raw: request({
        configuration: Buffer.from(kit.configuration),
        key: Buffer.from([0x61, 0x2f, 0xc3, 0x28, 0xff]),
      }),
      expect: "harmless",
    },
    {
      name: "missing plugin message",
      raw: Buffer.from(
        IsDirectoryRequest.encode(
          IsDirectoryRequest.fromPartial({ artifact: { name: "x" } }),
        ).finish(),
      ),
      expect: /no plugin artifact/,
    },
    { name: "missing artifact", raw: Buffer.alloc(0), expect: /no plugin artifact/ },
  ];
  const module = (await import(pathToFileURL(driverModule(kit.options)).href)) as {
    driver: DriverDefinition;
  };
  const required = Object.entries(module.driver.config).filter(
    ([, schema]) => !accepts(schema, undefined),
  );
  if (required.length > 0) {
    const names = required.map(([name]) => name).join("|");
    corpus.push(config("empty configuration", "", new RegExp(`field "(${names})" is required`)));
    const [first] = required;
    if (first) {
      const { [first[0]]: _, ...without } = base;
      corpus.push(
        config(
          `missing ${first[0]}`,
          JSON.stringify(without),
          new RegExp(`field "${first[0]}" is required`),
        ),
      );
    }
  }
  for (const [field, schema] of Object.entries(module.driver.config)) {
    const wrong = WRONG_VALUES.filter((value) => !accepts(schema, value)).slice(0, 2);
    for (const value of wrong) {
      const shown = JSON.stringify(value).slice(0, 30);
      corpus.push(config(`${field}: ${shown}`, good({ [field]: value }), fieldNamed(field)));
    }
    const typo = `${field.slice(0, -1)}_`;
    corpus.push(
      config(
        `misspelt ${field}`,
        good({ [typo]: base[field] ?? 1 }),
        new RegExp(`unknown field "${typo}"`),
      ),
    );
  }
  return corpus;
}

/** Whether a field's zod schema (as a driver declares it) accepts `value`. */
function accepts(schema: unknown, value: unknown): boolean {
  return (schema as { safeParse(input: unknown): { success: boolean } }).safeParse(value).success;
}

/** `field "name"` or a sub-field of it, or the size limit when the value itself is huge. */
function fieldNamed(field: string): RegExp {
  return new RegExp(`field "${field}(\\.[^"]*)?"|more than the 65536 allowed`);
}

/** An IsDirectoryRequest with these exact bytes as configuration and key. */
function request(parts: { configuration: Buffer; key: Buffer | string }): Buffer {
  const keyBytes = typeof parts.key === "string" ? Buffer.from(parts.key) : parts.key;
  const field = (tag: number, bytes: Buffer) =>
    Buffer.concat([Buffer.from([tag]), varint(bytes.length), bytes]);
  // PluginArtifact: name (1), configuration (2), key (4); Artifact.plugin is field 5.
  const plugin = Buffer.concat([
    field(0x0a, Buffer.from("conformance")),
    field(0x12, parts.configuration),
    field(0x22, keyBytes),
  ]);
  const artifact = Buffer.concat([field(0x0a, Buffer.from("bad")), field(0x2a, plugin)]);
  return field(0x0a, artifact);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Sends one corpus entry as IsDirectory; the error message, or undefined when it succeeded. */
function isDirectoryError(
  client: Client,
  input: BadInput,
  configuration: string,
  prefix: string,
): Promise<string | undefined> {
  const bytes =
    input.raw ??
    Buffer.from(
      IsDirectoryRequest.encode(
        IsDirectoryRequest.fromPartial({
          artifact: {
            name: "bad",
            plugin: {
              name: "conformance",
              configuration: input.configuration ?? configuration,
              key: input.key ?? `${prefix}/x`,
            },
          },
        }),
      ).finish(),
    );
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      IS_DIRECTORY,
      (message: Buffer) => message,
      (message: Buffer) => IsDirectoryResponse.decode(message),
      bytes,
      { deadline: Date.now() + 20_000 },
      (error: ServiceError | null, response?: IsDirectoryResponse) => {
        if (error) resolve(error.details || error.message);
        else if (response?.error) resolve(response.error);
        else resolve(undefined);
      },
    );
  });
}
