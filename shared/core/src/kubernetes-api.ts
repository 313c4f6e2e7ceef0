import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DriverError } from "./errors.js";

export interface KubernetesApiOptions {
  /** Folder with the service account's token, ca.crt and namespace. */
  serviceAccountDir: string;
  /** How long one request may take before it counts as unreachable. */
  timeoutMs: number;
  /** Tries in all when the API answers 429 or 5xx (an API server under load or restarting). */
  attempts: number;
  /** First wait between those tries; doubled each time, or the API's Retry-After (capped). */
  retryDelayMs: number;
}

/**
 * Reads the `data` of a Secret (its values base64-encoded, as the API sends
 * them) in the pod's namespace with the pod's service account token, re-read
 * on each fetch since projected tokens rotate. Throttling (429) and server
 * errors are retried with backoff; the error that ends the tries is
 * `unavailable` (not reachable), `transient` (429/5xx), or a refusal that
 * retrying cannot fix (`invalid-config` for a missing Secret,
 * `permission-denied` for RBAC).
 */
export async function fetchSecretData(
  name: string,
  options: KubernetesApiOptions,
): Promise<Record<string, string>> {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) {
    throw new DriverError(
      "invalid-config",
      `Kubernetes Secret "${name}" cannot be read: the plugin is not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset)`,
    );
  }
  let token: string;
  let ca: Buffer;
  let namespace: string;
  const dir = options.serviceAccountDir;
  try {
    [token, ca, namespace] = await Promise.all([
      readFile(join(dir, "token"), "utf8"),
      readFile(join(dir, "ca.crt")),
      readFile(join(dir, "namespace"), "utf8"),
    ]);
  } catch (cause) {
    throw new DriverError(
      "invalid-config",
      `Kubernetes Secret "${name}" cannot be read: no service account token in ${dir} (is automountServiceAccountToken disabled?)`,
      { cause },
    );
  }
  namespace = namespace.trim();
  const where = `Kubernetes Secret "${name}" in namespace "${namespace}"`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
  let delayMs = options.retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    const answer = await httpsGet({
      host,
      port,
      path,
      token: token.trim(),
      ca,
      timeoutMs: options.timeoutMs,
    }).catch((cause: unknown) => {
      throw new DriverError(
        "unavailable",
        `${where} cannot be read: the Kubernetes API at ${host}:${port} is unreachable (${cause instanceof Error ? cause.message : String(cause)})`,
        { cause },
      );
    });
    const { status, body, retryAfterSeconds } = answer;
    if (status === 200) {
      try {
        return (JSON.parse(body) as { data?: Record<string, string> }).data ?? {};
      } catch (cause) {
        throw new DriverError(
          "transient",
          `${where} cannot be read: the Kubernetes API answered with something that is not JSON`,
          { cause },
        );
      }
    }
    if (status === 404) throw new DriverError("invalid-config", `${where} does not exist`);
    if (status === 401 || status === 403) {
      throw new DriverError(
        "permission-denied",
        `${where} cannot be read: the pod's service account may not get it (HTTP ${status}); grant it "get" on this Secret with a Role and RoleBinding`,
      );
    }
    const passing = status === 429 || status >= 500;
    if (!passing) {
      throw new DriverError(
        "unknown",
        `${where} cannot be read: HTTP ${status} from the Kubernetes API`,
      );
    }
    if (attempt >= options.attempts) {
      throw new DriverError(
        "transient",
        `${where} cannot be read: HTTP ${status} from the Kubernetes API${status === 429 ? " (throttled)" : ""} after ${attempt} tries`,
        { final: true },
      );
    }
    const wait =
      retryAfterSeconds === undefined
        ? delayMs * (0.8 + Math.random() * 0.4)
        : Math.min(retryAfterSeconds * 1000, 4 * options.retryDelayMs);
    await sleep(Math.round(wait));
    delayMs *= 2;
  }
}

function httpsGet(options: {
  host: string;
  port: string;
  path: string;
  token: string;
  ca: Buffer;
  timeoutMs: number;
}): Promise<{ status: number; body: string; retryAfterSeconds?: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host,
        port: options.port,
        path: options.path,
        method: "GET",
        ca: options.ca,
        headers: { authorization: `Bearer ${options.token}`, accept: "application/json" },
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const retryAfter = Number(res.headers["retry-after"]);
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            ...(Number.isFinite(retryAfter) && retryAfter >= 0
              ? { retryAfterSeconds: retryAfter }
              : {}),
          });
        });
        res.on("error", reject);
      },
    );
    // The timeout covers a silent connection (no answer, a stalled body) as well as connecting.
    req.on("timeout", () =>
      req.destroy(new Error(`no answer within ${Math.round(options.timeoutMs / 100) / 10} s`)),
    );
    req.on("error", reject);
    req.end();
  });
}
