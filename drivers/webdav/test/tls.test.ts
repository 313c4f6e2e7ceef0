import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestPlugin } from "@argo-artifact-drivers/conformance";
import { failureMessage } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backend, configuration, fresh, login, startPlugin } from "./plugin.js";

/** Apache over HTTPS with a certificate for localhost signed by a private CA. */
describe("HTTPS", () => {
  let plugin: TestPlugin;
  let source: string;

  beforeAll(async () => {
    plugin = await startPlugin();
    source = join(plugin.work, "artifact.txt");
    await writeFile(source, "over TLS\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
  });

  const https = (fields: Record<string, unknown>) =>
    configuration({ url: `${backend().apacheTls}/basic/`, ...login, ...fields });

  async function roundTrip(config: string): Promise<void> {
    const client = plugin.client(config);
    try {
      const key = `${fresh("tls")}/artifact.txt`;
      await client.save(key, source);
      const target = `${source}.${fresh("loaded")}`;
      await client.load(key, target);
      expect(await readFile(target, "utf8")).toBe("over TLS\n");
    } finally {
      client.close();
    }
  }

  it("trusts the private CA given in caSecret", async () => {
    await roundTrip(https({ caSecret: { env: "DAV_CA" } }));
  });

  it("refuses a certificate no trusted CA signed, saying to set caSecret", async () => {
    for (const fields of [{}, { caSecret: { env: "DAV_OTHER_CA" } }]) {
      const client = plugin.client(https({ ...fields, retry: { attempts: 1 } }));
      try {
        const message = await failureMessage(client.isDirectory("anything"));
        expect(message).toMatch(/TLS certificate of https:\/\/localhost:\d+ is not trusted/);
        expect(message).toMatch(/set caSecret/);
        expect(message).toMatch(/\[unavailable\]/);
      } finally {
        client.close();
      }
    }
  });

  it("insecureSkipVerify works without the CA and is logged as a warning, once", async () => {
    const before = plugin.logs.length;
    await roundTrip(https({ insecureSkipVerify: true }));
    await roundTrip(https({ insecureSkipVerify: true }));
    const warnings = plugin.logs
      .slice(before)
      .filter((line) => line.includes('"level":"warn"') && line.includes("insecureSkipVerify"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${backend().apacheTls}/basic/`);
  });

  it("refuses caSecret without a PEM certificate, and TLS settings on an http url", async () => {
    const cases: Array<[string, RegExp]> = [
      [https({ caSecret: { env: "DAV_USERNAME" } }), /holds no PEM certificate/],
      [
        configuration({ url: `${backend().apache}/basic/`, ...login, insecureSkipVerify: true }),
        /apply to https only/,
      ],
    ];
    for (const [config, pattern] of cases) {
      const client = plugin.client(config);
      try {
        const message = await failureMessage(client.isDirectory("anything"));
        expect(message).toMatch(pattern);
        expect(message).toMatch(/\[invalid-config\]/);
      } finally {
        client.close();
      }
    }
  });
});
