import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { selfSignedCertificate } from "@argo-artifact-drivers/conformance";
import type { TestProject } from "vitest/node";
import { type MotoServer, motoServerPath, startMoto } from "./moto.js";

const here = dirname(fileURLToPath(import.meta.url));

export interface Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Identities {
  /** May do anything in S3 and assume `roleArn`. */
  writer: Identity & { arn: string };
  /** Known to the server, allowed nothing. */
  nobody: Identity & { arn: string };
  roleArn: string;
  /** Temporary credentials of `roleArn`, with a session token. */
  temporary: Identity & { sessionToken: string };
}

declare module "vitest" {
  export interface ProvidedContext {
    /** moto with request authentication on: only `identities` get in. */
    endpoint: string;
    identities: Identities;
    /** moto over HTTPS with a self-signed certificate (no authentication). */
    tlsEndpoint: string;
    /** PEM of that certificate. */
    caFile: string;
  }
}

/**
 * Starts two moto servers on loopback ports: one checking signatures against
 * IAM identities created here (so wrong keys, session tokens and role
 * assumption are tested for real), one serving HTTPS with a test CA.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const moto = motoServerPath();
  const work = await mkdtemp(join(tmpdir(), "s3-tests-"));
  const servers: MotoServer[] = [];
  const teardown = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(work, { recursive: true, force: true });
  };
  try {
    const authenticated = await startMoto(moto);
    servers.push(authenticated);
    const identities = JSON.parse(
      execFileSync(
        join(dirname(moto), "python"),
        [join(here, "fixtures", "moto-identities.py"), authenticated.endpoint],
        {
          encoding: "utf8",
        },
      ),
    ) as Identities;

    const { cert, key } = selfSignedCertificate(work);
    const tls = await startMoto(moto, { tls: { cert, key } });
    servers.push(tls);

    project.provide("endpoint", authenticated.endpoint);
    project.provide("identities", identities);
    project.provide("tlsEndpoint", tls.endpoint);
    project.provide("caFile", cert);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
