import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCertificate } from "@argo-artifact-drivers/conformance";
import type { TestProject } from "vitest/node";
import { type FakeGcs, fakeGcsServerPath, startFakeGcs } from "./backend.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** fake-gcs-server over HTTP, objects in memory. */
    endpoint: string;
    /** fake-gcs-server keeping objects as files under `filesystemRoot/<bucket>/`, to corrupt one. */
    filesystemEndpoint: string;
    filesystemRoot: string;
    /** fake-gcs-server over HTTPS with a self-signed certificate. */
    tlsEndpoint: string;
    /** PEM of that certificate. */
    caFile: string;
  }
}

/**
 * Starts three fake-gcs-servers on loopback ports. Nothing may probe a
 * metadata server for Application Default Credentials, here or in the
 * plugins the tests start.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.env.METADATA_SERVER_DETECTION = "none";
  const server = fakeGcsServerPath();
  const work = await mkdtemp(join(tmpdir(), "gcs-tests-"));
  const servers: FakeGcs[] = [];
  const teardown = async () => {
    await Promise.all(servers.map((running) => running.stop()));
    await rm(work, { recursive: true, force: true });
  };
  try {
    const memory = await startFakeGcs(server);
    servers.push(memory);

    const root = join(work, "objects");
    await mkdir(root);
    const filesystem = await startFakeGcs(server, { root });
    servers.push(filesystem);

    const { cert, key } = selfSignedCertificate(work);
    const tls = await startFakeGcs(server, { tls: { cert, key } });
    servers.push(tls);

    project.provide("endpoint", memory.endpoint);
    project.provide("filesystemEndpoint", filesystem.endpoint);
    project.provide("filesystemRoot", root);
    project.provide("tlsEndpoint", tls.endpoint);
    project.provide("caFile", cert);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
