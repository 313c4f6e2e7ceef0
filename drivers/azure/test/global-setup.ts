import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import type { TestProject } from "vitest/node";
import {
  backendPaths,
  DEV_ACCOUNT,
  DEV_KEY,
  type Server,
  startAzurite,
  startToxiproxy,
} from "./backend.js";

/** Containers created up front on both Azurite servers. */
export const CONTAINERS = ["conformance", "tests", "sas-only", "other"];

declare module "vitest" {
  export interface ProvidedContext {
    /** Azurite over HTTP: the account URL, account in the path. */
    endpoint: string;
    /** Azurite's port, for proxies in front of it. */
    azuritePort: number;
    /** Azurite over HTTPS with a certificate from a private CA, accepting bearer tokens. */
    tlsEndpoint: string;
    /** PEM file of that private CA. */
    caFile: string;
    /** Toxiproxy's API URL. */
    toxiproxy: string;
    /** A SAS token for container "sas-only" only (read, add, create, write, delete, list), valid for a day. */
    containerSas: string;
  }
}

/**
 * Starts, on loopback: Azurite over HTTP, Azurite over HTTPS with a private
 * CA and `--oauth basic`, and Toxiproxy; creates the test containers.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const paths = backendPaths();
  const work = await mkdtemp(join(tmpdir(), "azure-tests-"));
  const servers: Server[] = [];
  const teardown = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(work, { recursive: true, force: true });
  };
  try {
    const plain = await startAzurite(paths.azurite, { memoryLimitMiB: 4096 });
    servers.push(plain);
    const tls = privateCa(work);
    const secure = await startAzurite(paths.azurite, {
      tls: { cert: tls.cert, key: tls.key },
      oauth: true,
      memoryLimitMiB: 512,
    });
    servers.push(secure);
    const toxiproxy = await startToxiproxy(paths.toxiproxy);
    servers.push(toxiproxy);

    const credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
    const trusting: StoragePipelineOptions & { agent: Agent } = {
      agent: new Agent({ ca: readFileSync(tls.ca) }),
    };
    for (const [url, options] of [
      [plain.url, {}],
      [secure.url, trusting],
    ] as const) {
      const service = new BlobServiceClient(url, credential, options);
      for (const name of CONTAINERS) await service.getContainerClient(name).createIfNotExists();
    }
    trusting.agent.destroy();

    const containerSas = generateBlobSASQueryParameters(
      {
        containerName: "sas-only",
        permissions: ContainerSASPermissions.parse("racwdl"),
        expiresOn: new Date(Date.now() + 24 * 3600_000),
      },
      credential,
    ).toString();

    project.provide("endpoint", plain.url);
    project.provide("azuritePort", plain.port);
    project.provide("tlsEndpoint", secure.url);
    project.provide("caFile", tls.ca);
    project.provide("toxiproxy", toxiproxy.url);
    project.provide("containerSas", containerSas);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}

/** A private CA and a server certificate it signed for 127.0.0.1, localhost and azurite. */
function privateCa(work: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => join(work, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  openssl(
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"],
    ...["-keyout", file("ca.key"), "-out", file("ca.pem"), "-subj", "/CN=Azure driver test CA"],
  );
  openssl(
    ...["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
    ...["-keyout", file("key.pem"), "-out", file("server.csr")],
  );
  const extensions = file("server.ext");
  writeFileSync(
    extensions,
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:azurite\nbasicConstraints=CA:FALSE\n",
  );
  openssl(
    ...["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem")],
    ...["-CAkey", file("ca.key"), "-CAcreateserial", "-days", "2"],
    ...["-out", file("cert.pem"), "-extfile", extensions],
  );
  return { ca: file("ca.pem"), cert: file("cert.pem"), key: file("key.pem") };
}
