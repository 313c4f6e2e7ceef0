import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import type { TestPlugin } from "@argo-artifact-drivers/conformance";
import { failureMessage } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apacheBasic, backend, configuration, fresh, login, startPlugin } from "./plugin.js";

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("clear errors", () => {
  let plugin: TestPlugin;
  let source: string;

  beforeAll(async () => {
    plugin = await startPlugin();
    source = join(plugin.work, "artifact.txt");
    await writeFile(source, "errors\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
  });

  async function message(
    config: string,
    call: (client: ReturnType<TestPlugin["client"]>) => Promise<unknown>,
  ) {
    const client = plugin.client(config);
    try {
      return await failureMessage(call(client));
    } finally {
      client.close();
    }
  }

  it("an unreachable server is unavailable, named by its address, at once", async () => {
    const port = await closedPort();
    const started = Date.now();
    const text = await message(
      configuration({ url: `http://127.0.0.1:${port}/dav/`, ...login }),
      (client) => client.save(`${fresh("errors")}/x.txt`, source),
    );
    expect(text).toContain(`cannot connect to http://127.0.0.1:${port}`);
    expect(text).toMatch(/ECONNREFUSED.*\[unavailable\]/s);
    expect(text).not.toContain(backend().password);
    // Unavailable is not retried: no backoff delays.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a server that accepts connections but never answers times out, naming the request", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const text = await message(
        configuration({
          url: `http://127.0.0.1:${port}/dav/`,
          ...login,
          timeoutSeconds: 1,
          retry: { attempts: 2, initialDelaySeconds: 1 },
        }),
        (client) => client.isDirectory("anything"),
      );
      expect(text).toContain(`PROPFIND http://127.0.0.1:${port}/dav/anything`);
      expect(text).toMatch(/the server sent nothing for 1 s.*\[transient\]/s);
      // Two tries of 1 s and a backoff of about 1 s: the timeout is really applied.
      expect(Date.now() - started).toBeGreaterThan(2_000);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      silent.close();
    }
  });

  it("a missing key is not found; a collection read as a file says what is there", async () => {
    const folder = fresh("errors");
    const config = apacheBasic();
    const client = plugin.client(config);
    try {
      await client.save(`${folder}/dir/inside.txt`, source);
      const missing = await failureMessage(
        (async () => {
          for await (const _ of client.openStream(`${folder}/missing.txt`));
        })(),
      );
      expect(missing).toMatch(
        /GET http:\/\/127\.0\.0\.1:\d+\/basic\/errors-[0-9a-f]+\/missing\.txt answered HTTP 404/,
      );
      expect(missing).toMatch(/\[not-found\]/);
      const chunks: Buffer[] = [];
      const collection = await failureMessage(
        (async () => {
          for await (const chunk of client.openStream(`${folder}/dir`)) chunks.push(chunk);
        })(),
      );
      expect(collection).toMatch(/is a collection \(a folder\), not a file.*\[not-found\]/s);
      expect(chunks).toEqual([]);
    } finally {
      client.close();
    }
  });

  it("saving a file where a file is a parent is a conflict", async () => {
    const folder = fresh("errors");
    const client = plugin.client(apacheBasic());
    try {
      await client.save(`${folder}/file.txt`, source);
      const text = await failureMessage(client.save(`${folder}/file.txt/below.txt`, source));
      expect(text).toMatch(
        /\/file\.txt is a file, where a collection \(folder\) is needed.*\[conflict\]/s,
      );
    } finally {
      client.close();
    }
  });

  const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      "credentials in the url",
      { url: "http://user:pw@127.0.0.1/dav/" },
      /must not contain credentials/,
    ],
    ["a url that is not http(s)", { url: "ftp://127.0.0.1/dav/" }, /http:\/\/ or https:\/\//],
    [
      "a url that is not a URL at all",
      { url: "not-a-url" },
      /field "url": must be an http:\/\/ or https:\/\/ URL/,
    ],
    ["a query in the url", { url: "http://127.0.0.1/dav/?x=1" }, /query or a fragment/],
    [
      "an Authorization header",
      { headers: { Authorization: "Basic eA==" } },
      /carries credentials/,
    ],
    ["a header the driver sets", { headers: { Destination: "/elsewhere" } }, /set by the driver/],
    ["a header value on two lines", { headers: { "X-A": "a\r\nX-B: b" } }, /one line/],
    ["a password without a user name", { usernameSecret: undefined }, /usernameSecret is missing/],
    [
      "a bearer token beside a password",
      { bearerTokenSecret: { env: "DAV_TOKEN" } },
      /exclude each other/,
    ],
    [
      "digest without credentials",
      { usernameSecret: undefined, passwordSecret: undefined, authType: "digest" },
      /authType digest needs usernameSecret and passwordSecret/,
    ],
    ["an unknown authType", { authType: "ntlm" }, /authType/],
  ];
  for (const [what, fields, pattern] of invalid) {
    it(`refuses ${what} as an invalid configuration`, async () => {
      const text = await message(
        configuration({ url: `${backend().apache}/basic/`, ...login, ...fields }),
        (client) => client.isDirectory("anything"),
      );
      expect(text).toMatch(pattern);
      expect(text).toMatch(/\[invalid-config\]|invalid configuration|configuration/i);
      expect(text).not.toContain(backend().password);
    });
  }
});
