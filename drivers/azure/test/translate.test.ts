// Pure functions: error translation for failures Azurite cannot be made to
// produce (throttling, 5xx, Azure's own codes), endpoint and secret parsing,
// and the configuration schema.
import { DriverError } from "@argo-artifact-drivers/core";
import { RestError } from "@azure/storage-blob";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { isSasToken, parseEndpoint } from "../src/client.js";
import { azureConfig } from "../src/driver.js";
import { scrub, translate } from "../src/errors.js";

const where = {
  account: "acct",
  container: "artifacts",
  endpoint: "https://acct.blob.core.windows.net",
  blob: "out/report.tgz",
};

/** A RestError as the SDK throws it; HEAD answers have no body, so no message. */
function restError(status: number, errorCode: string, message = ""): RestError {
  const error = new RestError(message, { statusCode: status });
  Object.assign(error, { details: { errorCode } });
  return error;
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
}

describe("error translation", () => {
  it.each([
    [restError(404, "BlobNotFound"), "not-found"],
    [restError(404, "ContainerNotFound", "The specified container does not exist."), "not-found"],
    [restError(403, "AuthenticationFailed"), "permission-denied"],
    [restError(403, "AuthorizationFailure"), "permission-denied"],
    [restError(403, "AuthorizationPermissionMismatch"), "permission-denied"],
    [restError(403, ""), "permission-denied"],
    [restError(401, "InvalidAuthenticationInfo"), "permission-denied"],
    [restError(409, "BlobAlreadyExists"), "conflict"],
    [restError(409, "BlobArchived"), "conflict"],
    [restError(412, "ConditionNotMet"), "transient"],
    [restError(429, "TooManyRequests"), "transient"],
    [restError(500, "InternalError"), "transient"],
    [restError(500, "OperationTimedOut"), "transient"],
    [restError(503, "ServerBusy"), "transient"],
    [restError(400, "InvalidResourceName"), "invalid-config"],
    [restError(400, "InvalidBlobTier"), "invalid-config"],
    [restError(400, "SomethingNew"), "unknown"],
    [systemError("ECONNREFUSED"), "unavailable"],
    [systemError("ENOTFOUND"), "unavailable"],
    [systemError("ECONNRESET"), "transient"],
    [systemError("SELF_SIGNED_CERT_IN_CHAIN"), "unavailable"],
    [systemError("ECONNECTTIMEOUT"), "unavailable"],
    [systemError("ETIMEDOUT"), "transient"],
    [Object.assign(new Error("The operation was aborted."), { name: "AbortError" }), "transient"],
    [
      Object.assign(new Error("ManagedIdentityCredential: no IMDS"), {
        name: "CredentialUnavailableError",
      }),
      "permission-denied",
    ],
  ])("%s is %s", (error, code) => {
    const translated = translate(error, where);
    expect(translated).toBeInstanceOf(DriverError);
    expect(translated.code).toBe(code);
    expect(translated.message).not.toBe("");
  });

  it("maps on the status, so Azure's and Azurite's codes for a wrong key read alike", () => {
    const azure = translate(restError(403, "AuthenticationFailed"), where);
    const azurite = translate(restError(403, "AuthorizationFailure"), where);
    for (const error of [azure, azurite]) {
      expect(error.message).toMatch(/account key or SAS token in accountKeySecret is wrong/);
      expect(error.message).toMatch(/HTTP 403/);
    }
  });

  it("names the blob, container and account of a missing blob, and the container when that is missing", () => {
    expect(translate(restError(404, "BlobNotFound"), where).message).toBe(
      'no blob "out/report.tgz" in container "artifacts" of account "acct" (BlobNotFound, HTTP 404)',
    );
    expect(translate(restError(404, "ContainerNotFound"), where).message).toBe(
      'the container "artifacts" does not exist in account "acct" (ContainerNotFound, HTTP 404)',
    );
  });

  it("never passes a SAS signature on, in the message or the cause", () => {
    const error = systemError("ECONNRESET");
    error.message =
      "socket hang up at https://acct.blob.core.windows.net/c/b?sv=2022&sig=abc%2Fdef&se=x";
    const translated = translate(error, where);
    expect(translated.message).not.toContain("abc%2Fdef");
    expect((translated.cause as Error).message).not.toContain("abc%2Fdef");
    expect(scrub("a?sig=secret b&sig=other")).toBe("a?sig=REDACTED b&sig=REDACTED");
  });
});

describe("endpoint", () => {
  it.each([
    ["https://acct.blob.core.windows.net", "acct", "https://acct.blob.core.windows.net"],
    ["https://acct.blob.core.windows.net/", "acct", "https://acct.blob.core.windows.net"],
    [
      "http://127.0.0.1:10000/devstoreaccount1",
      "devstoreaccount1",
      "http://127.0.0.1:10000/devstoreaccount1",
    ],
    [
      "http://azurite:10000/devstoreaccount1/",
      "devstoreaccount1",
      "http://azurite:10000/devstoreaccount1",
    ],
    [
      "https://blob.storage.svc.cluster.local/acct2",
      "acct2",
      "https://blob.storage.svc.cluster.local/acct2",
    ],
  ])("%s is account %s at %s", (endpoint, account, url) => {
    expect(parseEndpoint(endpoint)).toMatchObject({ account, url });
  });

  it.each([
    ["https://acct.blob.core.windows.net?sv=1&sig=2", /must not have a query/],
    ["https://acct.blob.core.windows.net/container/extra", /more than an account/],
    ["https://user:pw@acct.blob.core.windows.net", /must not contain credentials/],
    ["https://Not_An_Account.example.com", /cannot read a storage account name/],
  ])("refuses %s", (endpoint, message) => {
    expect(() => parseEndpoint(endpoint)).toThrow(message);
  });
});

describe("accountKeySecret", () => {
  it("tells a SAS token from an account key", () => {
    expect(isSasToken("sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030&sig=abc%3D")).toBe(true);
    expect(isSasToken("?sv=2022-11-02&sig=abc")).toBe(true);
    expect(
      isSasToken(
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
      ),
    ).toBe(false);
  });
});

describe("configuration schema", () => {
  const schema = z.strictObject(azureConfig);

  it("describes every field", () => {
    for (const [name, field] of Object.entries(azureConfig)) {
      expect(field.description, name).toBeTruthy();
    }
  });

  it("accepts Argo's azure: block as it is", () => {
    const parsed = schema.parse({
      endpoint: "https://myaccount.blob.core.windows.net",
      container: "my-container",
      accountKeySecret: { name: "my-azure-storage-credentials", key: "account-access-key" },
    });
    expect(parsed).toMatchObject({ useSDKCreds: false, blockSize: 8 * 1024 * 1024 });
    expect(
      schema.parse({
        endpoint: "https://a1b.blob.core.windows.net",
        container: "c-1",
        useSDKCreds: true,
      }),
    ).toMatchObject({ useSDKCreds: true });
  });

  it.each([["Uppercase"], ["a--b"], ["-ab"], ["ab"], ["x".repeat(64)]])(
    "refuses the container name %s",
    (container) => {
      expect(() => schema.parse({ endpoint: "https://a.example.com", container })).toThrow(
        /container/,
      );
    },
  );
});
