import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { z } from "zod";
import { DriverError } from "./errors.js";
import { redact } from "./redaction.js";

/**
 * A reference to a secret value in the configuration. The configuration comes
 * from workflow authors, so only Kubernetes Secrets of the pod's own namespace
 * are allowed by default; `env` and `file` references reach into the plugin
 * container (which, beside argo-server, holds argo-server's credentials) and
 * must be enabled by the operator with ARTIFACT_DRIVER_SECRET_SOURCES.
 */
export type SecretSource =
  | { kind: "kubernetes"; name: string; key: string }
  | { kind: "env"; name: string }
  | { kind: "file"; path: string };

export class SecretRef {
  constructor(readonly source: SecretSource) {}

  /** How the reference reads in messages: never the value. */
  toString(): string {
    const s = this.source;
    if (s.kind === "kubernetes") return `Kubernetes Secret "${s.name}" key "${s.key}"`;
    if (s.kind === "env") return `environment variable ${s.name}`;
    return `file ${s.path}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * The schema of a secret field: Argo's `{name, key}` SecretKeySelector, or
 * `{env: NAME}` / `{file: PATH}` where the operator allows them.
 */
export function secretRef() {
  const kubernetes = z.strictObject({
    name: z.string().min(1).describe("Name of a Secret in the pod's namespace"),
    key: z.string().min(1).describe("Key inside that Secret"),
  });
  const env = z.strictObject({ env: z.string().min(1).describe("Environment variable name") });
  const file = z.strictObject({ file: z.string().min(1).describe("Path of a file") });
  return z
    .union([kubernetes, env, file], {
      error:
        "expected a secret reference: {name, key} for a Kubernetes Secret, or {env: NAME} or {file: PATH}",
    })
    .transform(
      (value) =>
        new SecretRef(
          "env" in value
            ? { kind: "env", name: value.env }
            : "file" in value
              ? { kind: "file", path: value.file }
              : { kind: "kubernetes", name: value.name, key: value.key },
        ),
    );
}

export type SecretSourceKind = SecretSource["kind"];

/** Parses ARTIFACT_DRIVER_SECRET_SOURCES (default `kubernetes`). */
export function allowedSecretSources(
  value = process.env.ARTIFACT_DRIVER_SECRET_SOURCES,
): Set<SecretSourceKind> {
  const allowed = new Set<SecretSourceKind>();
  for (const raw of (value ?? "kubernetes").split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    if (name !== "kubernetes" && name !== "env" && name !== "file") {
      throw new Error(
        `ARTIFACT_DRIVER_SECRET_SOURCES has an unknown source "${name}"; use a comma list of kubernetes, env, file`,
      );
    }
    allowed.add(name);
  }
  return allowed;
}

export interface SecretResolverOptions {
  allowed: Set<SecretSourceKind>;
  /** Folder with the service account's token, ca.crt and namespace. */
  serviceAccountDir?: string;
  /** How long a Kubernetes Secret read is reused, in milliseconds. */
  cacheMs?: number;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * Resolves secret references. Kubernetes Secrets are read through the
 * in-cluster API with the pod's service account token (re-read on each fetch,
 * since projected tokens rotate) and reused for a short time, so a directory
 * of a thousand files costs one API call, while rotated Secrets are noticed.
 */
export class SecretResolver {
  private readonly allowed: Set<SecretSourceKind>;
  private readonly serviceAccountDir: string;
  private readonly cacheMs: number;
  private readonly secrets = new Map<
    string,
    { expires: number; data: Promise<Record<string, string>> }
  >();

  constructor(options: SecretResolverOptions) {
    this.allowed = options.allowed;
    this.serviceAccountDir =
      options.serviceAccountDir ??
      process.env.ARTIFACT_DRIVER_SERVICE_ACCOUNT_DIR ??
      SERVICE_ACCOUNT_DIR;
    this.cacheMs = options.cacheMs ?? 30_000;
  }

  async resolve(ref: SecretRef): Promise<string> {
    const source = ref.source;
    if (!this.allowed.has(source.kind)) {
      throw new DriverError(
        "invalid-config",
        `${ref} is refused: ${source.kind} secret references are disabled in this plugin; use a Kubernetes Secret reference {name, key}, or ask the operator to set ARTIFACT_DRIVER_SECRET_SOURCES on the plugin image`,
      );
    }
    const value = await this.read(ref, source);
    redact(value);
    return value;
  }

  private async read(ref: SecretRef, source: SecretSource): Promise<string> {
    switch (source.kind) {
      case "env": {
        const value = process.env[source.name];
        if (value === undefined)
          throw new DriverError("invalid-config", `${ref} is not set in the plugin container`);
        return value;
      }
      case "file":
        try {
          return (await readFile(source.path, "utf8")).replace(/\r?\n$/, "");
        } catch (cause) {
          throw new DriverError("invalid-config", `${ref} cannot be read`, { cause });
        }
      case "kubernetes": {
        const data = await this.kubernetesSecret(source.name);
        const encoded = data[source.key];
        if (encoded === undefined) {
          const keys = Object.keys(data).sort().join(", ") || "none";
          throw new DriverError(
            "invalid-config",
            `${ref}: the Secret has no key "${source.key}" (its keys: ${keys})`,
          );
        }
        return Buffer.from(encoded, "base64").toString("utf8");
      }
    }
  }

  private kubernetesSecret(name: string): Promise<Record<string, string>> {
    const now = Date.now();
    const cached = this.secrets.get(name);
    if (cached && cached.expires > now) return cached.data;
    const data = this.fetchSecret(name);
    this.secrets.set(name, { expires: now + this.cacheMs, data });
    data.catch(() => this.secrets.delete(name));
    return data;
  }

  private async fetchSecret(name: string): Promise<Record<string, string>> {
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
    try {
      [token, ca, namespace] = await Promise.all([
        readFile(join(this.serviceAccountDir, "token"), "utf8"),
        readFile(join(this.serviceAccountDir, "ca.crt")),
        readFile(join(this.serviceAccountDir, "namespace"), "utf8"),
      ]);
    } catch (cause) {
      throw new DriverError(
        "invalid-config",
        `Kubernetes Secret "${name}" cannot be read: no service account token in ${this.serviceAccountDir} (is automountServiceAccountToken disabled?)`,
        { cause },
      );
    }
    namespace = namespace.trim();
    const where = `Kubernetes Secret "${name}" in namespace "${namespace}"`;
    const { status, body } = await httpsGet({
      host,
      port,
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
      token: token.trim(),
      ca,
    }).catch((cause: unknown) => {
      throw new DriverError(
        "unavailable",
        `${where} cannot be read: the Kubernetes API at ${host}:${port} is unreachable`,
        { cause },
      );
    });
    if (status === 404) throw new DriverError("invalid-config", `${where} does not exist`);
    if (status === 401 || status === 403) {
      throw new DriverError(
        "permission-denied",
        `${where} cannot be read: the pod's service account may not get it (HTTP ${status}); grant it "get" on this Secret with a Role and RoleBinding`,
      );
    }
    if (status !== 200)
      throw new DriverError(
        status >= 500 ? "transient" : "unknown",
        `${where} cannot be read: HTTP ${status} from the Kubernetes API`,
      );
    const secret = JSON.parse(body) as { data?: Record<string, string> };
    return secret.data ?? {};
  }
}

function httpsGet(options: {
  host: string;
  port: string;
  path: string;
  token: string;
  ca: Buffer;
}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host,
        port: options.port,
        path: options.path,
        method: "GET",
        ca: options.ca,
        headers: { authorization: `Bearer ${options.token}`, accept: "application/json" },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out after 10 s")));
    req.on("error", reject);
    req.end();
  });
}
