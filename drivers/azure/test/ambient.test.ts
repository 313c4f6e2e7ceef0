import { createServer } from "node:net";
import { failureMessage, type TestPlugin } from "@argo-artifact-drivers/conformance";
import { afterEach, describe, expect, inject, it } from "vitest";
import { configuration, entrypoint } from "./plugin.js";

let plugin: TestPlugin | undefined;

afterEach(async () => {
  await plugin?.stop();
  plugin = undefined;
});

async function start(env: Record<string, string>): Promise<TestPlugin> {
  const { TestPlugin } = await import("@argo-artifact-drivers/conformance");
  plugin = await TestPlugin.start(entrypoint, {
    env: {
      ARTIFACT_DRIVER_SECRET_SOURCES: "file",
      ARGO_CONTAINER_NAME: "",
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "",
      ...env,
    },
    pluginName: "azure",
  });
  return plugin;
}

/** useSDKCreds over the HTTPS Azurite (tokens are only sent over TLS). */
const sdkCreds = () =>
  configuration({
    endpoint: inject("tlsEndpoint"),
    accountKeySecret: undefined,
    caSecret: { file: inject("caFile") },
    useSDKCreds: true,
  });

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === "object" && address ? address.port : 0;
}

describe("useSDKCreds, the container's own identity", () => {
  it("is refused by default outside workflow pods (beside argo-server), naming the field and the switch", async () => {
    const running = await start({});
    const message = await failureMessage(running.client(sdkCreds()).isDirectory("ambient/any"));
    expect(message).toMatch(
      /field "useSDKCreds" would use the Azure SDK's DefaultAzureCredential .*ARTIFACT_DRIVER_AMBIENT_CREDENTIALS=allow.*\[invalid-config\]/,
    );
  });

  it("is refused where the operator says deny, even in a workflow pod", async () => {
    const running = await start({
      ARGO_CONTAINER_NAME: "artifact-plugin-azure",
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "deny",
    });
    const message = await failureMessage(running.client(sdkCreds()).isDirectory("ambient/any"));
    expect(message).toMatch(/ARTIFACT_DRIVER_AMBIENT_CREDENTIALS is deny\).*\[invalid-config\]/);
  });

  it("tries DefaultAzureCredential when allowed (here its AZURE_* service principal, whose authority is down)", async () => {
    const running = await start({
      ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: "allow",
      AZURE_TENANT_ID: "00000000-0000-0000-0000-000000000001",
      AZURE_CLIENT_ID: "00000000-0000-0000-0000-000000000002",
      AZURE_CLIENT_SECRET: "not-a-real-client-secret",
      AZURE_AUTHORITY_HOST: `https://127.0.0.1:${await closedPort()}`,
    });
    const message = await failureMessage(running.client(sdkCreds()).isDirectory("ambient/any"));
    expect(message).toMatch(/useSDKCreds: no Azure AD token could be had/);
    expect(message).not.toContain("not-a-real-client-secret");
  }, 60_000);

  it("is allowed by default in the plugin containers Argo adds to workflow pods", async () => {
    const running = await start({
      ARGO_CONTAINER_NAME: "init-artifact-azure",
      AZURE_TENANT_ID: "00000000-0000-0000-0000-000000000001",
      AZURE_CLIENT_ID: "00000000-0000-0000-0000-000000000002",
      AZURE_CLIENT_SECRET: "not-a-real-client-secret",
      AZURE_AUTHORITY_HOST: `https://127.0.0.1:${await closedPort()}`,
    });
    const message = await failureMessage(running.client(sdkCreds()).isDirectory("ambient/any"));
    expect(message).toMatch(/useSDKCreds: no Azure AD token could be had/);
  }, 60_000);
});
