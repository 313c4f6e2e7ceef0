import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KubernetesStandIn {
  /** Environment that points a plugin at this API server and its service account folder. */
  readonly env: Record<string, string>;
  /** Paths of every request received, in order. */
  readonly requests: string[];
  /** Replaces (or adds) a Secret's data, as `kubectl apply` would. */
  setSecret(name: string, data: SecretData): void;
  /**
   * Makes the next `times` requests (default: all, until called again
   * without a fault) fail as an API server in trouble does: an HTTP status
   * (429 throttling, 500, 503; with Retry-After when given), or `stall`:
   * the connection is accepted and never answered.
   */
  fail(fault?: {
    status?: number;
    retryAfterSeconds?: number;
    stall?: boolean;
    times?: number;
  }): void;
  close(): Promise<void>;
}

/** A Secret's keys to their values: text, or bytes for binary values; served base64-encoded like the real API. */
export type SecretData = Record<string, string | Uint8Array>;

export interface KubernetesStandInOptions {
  namespace: string;
  secrets: Record<string, SecretData>;
  /** Secrets whose reads are refused with 403, as RBAC would. */
  forbidden?: string[];
}

/**
 * A stand-in for the Kubernetes API server (no cluster can run here): real
 * HTTPS with a generated CA-signed certificate for 127.0.0.1, bearer token
 * checks, and the real `GET /api/v1/namespaces/{ns}/secrets/{name}` shape,
 * plus the service account folder (token, ca.crt, namespace) a pod has.
 */
export async function startKubernetesStandIn(
  options: KubernetesStandInOptions,
): Promise<KubernetesStandIn> {
  const folder = await mkdtemp(join(tmpdir(), "k8s-stand-in-"));
  const token = `stand-in-token-${Math.random().toString(36).slice(2)}`;
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=kubernetes",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(folder, "tls.key"),
      "-out",
      join(folder, "ca.crt"),
    ],
    { stdio: "ignore" },
  );
  await writeFile(join(folder, "token"), `${token}\n`);
  await writeFile(join(folder, "namespace"), options.namespace);

  const secrets = new Map(Object.entries(options.secrets));
  const requests: string[] = [];
  let fault:
    | { status?: number; retryAfterSeconds?: number; stall?: boolean; times?: number }
    | undefined;
  const server = createServer(
    { key: await readFile(join(folder, "tls.key")), cert: await readFile(join(folder, "ca.crt")) },
    (req, res) => {
      requests.push(req.url ?? "");
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res
          .writeHead(status, { "content-type": "application/json", ...headers })
          .end(JSON.stringify(body));
      };
      const active = fault;
      if (active) {
        if (active.times !== undefined && --active.times <= 0) fault = undefined;
        // Never answered: the client's timeout has to notice.
        if (active.stall) return;
        const status = active.status ?? 500;
        return reply(
          status,
          { kind: "Status", status: "Failure", code: status },
          active.retryAfterSeconds === undefined
            ? {}
            : { "retry-after": String(active.retryAfterSeconds) },
        );
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        return reply(401, { kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 });
      }
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/?]+)$/.exec(req.url ?? "");
      if (req.method !== "GET" || !match) return reply(404, { kind: "Status", code: 404 });
      const [namespace, name] = [
        decodeURIComponent(match[1] ?? ""),
        decodeURIComponent(match[2] ?? ""),
      ];
      if (options.forbidden?.includes(name)) {
        return reply(403, { kind: "Status", status: "Failure", reason: "Forbidden", code: 403 });
      }
      const data = namespace === options.namespace ? secrets.get(name) : undefined;
      if (!data)
        return reply(404, { kind: "Status", status: "Failure", reason: "NotFound", code: 404 });
      reply(200, {
        kind: "Secret",
        apiVersion: "v1",
        metadata: { name, namespace },
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [
            k,
            (typeof v === "string" ? Buffer.from(v) : Buffer.from(v)).toString("base64"),
          ]),
        ),
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    env: {
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: String(port),
      ARTIFACT_DRIVER_SERVICE_ACCOUNT_DIR: folder,
    },
    requests,
    setSecret: (name, data) => secrets.set(name, data),
    fail: (next) => {
      fault = next && { ...next };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(folder, { recursive: true, force: true });
    },
  };
}
