import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { adapterContext } from "../src/adapter-cache.js";
import { DriverError } from "../src/errors.js";
import { ambientCredentials, SecretRef } from "../src/secrets.js";

const ref = (key: string) => new SecretRef({ kind: "kubernetes", name: "creds", key });

function thrown(run: () => unknown): DriverError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DriverError);
    return error as DriverError;
  }
  throw new Error("expected a failure");
}

describe("the secrets an adapter is lent", () => {
  const key = randomBytes(32);
  const context = (ambient: "allow" | "deny") =>
    adapterContext({
      retry: { attempts: 1, initialDelaySeconds: 0, factor: 1 },
      parallelism: 1,
      ambientCredentials: ambient,
      secret: (secret) =>
        secret.source.kind === "kubernetes" && secret.source.key === "key" ? key : "text-value",
    });

  it("gives bytes as stored and text for text fields", () => {
    const lent = context("deny");
    expect(lent.secretBytes(ref("key")).equals(key)).toBe(true);
    expect(lent.secret(ref("password"))).toBe("text-value");
  });

  it("refuses binary bytes where text is needed, naming the reference", () => {
    const binary = Buffer.from([0xc3, 0x28, 0x01, 0x02]);
    const lent = adapterContext({
      retry: { attempts: 1, initialDelaySeconds: 0, factor: 1 },
      parallelism: 1,
      secret: () => binary,
    });
    const error = thrown(() => lent.secret(ref("password")));
    expect(error.code).toBe("invalid-config");
    expect(error.message).toMatch(
      /^Kubernetes Secret "creds" key "password" holds 4 bytes that are not UTF-8 text/,
    );
  });

  it("refuses ambient credentials unless allowed, naming the field and the switch", () => {
    const error = thrown(() =>
      context("deny").checkAmbientCredentials(
        "useSDKCreds",
        "the AWS SDK's default credential chain",
      ),
    );
    expect(error.code).toBe("invalid-config");
    expect(error.message).toMatch(
      /^field "useSDKCreds" would use the AWS SDK's default credential chain/,
    );
    expect(error.message).toMatch(/ARTIFACT_DRIVER_AMBIENT_CREDENTIALS=allow/);
    expect(() => context("allow").checkAmbientCredentials("useSDKCreds", "x")).not.toThrow();
  });
});

describe("ARTIFACT_DRIVER_AMBIENT_CREDENTIALS", () => {
  it("is deny by default, such as beside argo-server", () => {
    expect(ambientCredentials(undefined, undefined)).toBe("deny");
    expect(ambientCredentials("", "argo-server")).toBe("deny");
  });

  it("is allow by default in the plugin containers Argo adds to workflow and GC pods", () => {
    expect(ambientCredentials(undefined, "artifact-plugin-s3-plugin")).toBe("allow");
    expect(ambientCredentials(undefined, "init-artifact-s3-plugin")).toBe("allow");
  });

  it("follows the operator's explicit setting wherever it runs", () => {
    expect(ambientCredentials("deny", "artifact-plugin-s3-plugin")).toBe("deny");
    expect(ambientCredentials("allow", undefined)).toBe("allow");
    expect(() => ambientCredentials("yes", undefined)).toThrow(/use allow or deny/);
  });
});
