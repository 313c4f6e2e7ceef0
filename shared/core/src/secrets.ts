import { readFile } from "node:fs/promises";
import { z } from "zod";
import { DriverError } from "./errors.js";
import { fetchSecretData } from "./kubernetes-api.js";
import { createLogger, type Logger } from "./log.js";
import { redactSecret } from "./redaction.js";

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

/**
 * Parses ARTIFACT_DRIVER_SECRET_NAMES: the Kubernetes Secrets configurations
 * may refer to, by name; undefined (the variable unset) allows any Secret the
 * pod's service account can read, an empty value none. Beside argo-server
 * that account is argo-server's, which Argo's own install lets read every
 * Secret: without this list a workflow author could name any of them (and
 * send its value to an endpoint of their choosing, as a password).
 */
export function allowedSecretNames(
  value = process.env.ARTIFACT_DRIVER_SECRET_NAMES,
): Set<string> | undefined {
  if (value === undefined) return undefined;
  const names = new Set<string>();
  for (const raw of value.split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) {
      throw new Error(
        `ARTIFACT_DRIVER_SECRET_NAMES has "${name}", which is not a Secret name; use a comma list of Secret names`,
      );
    }
    names.add(name);
  }
  return names;
}

export type AmbientCredentials = "allow" | "deny";

/**
 * Parses ARTIFACT_DRIVER_AMBIENT_CREDENTIALS: whether configurations may use
 * the container's own identity (SDK default chains, Workload Identity,
 * instance roles) instead of credentials from a Secret. Unset, it is `allow`
 * only in the plugin containers Argo's controller adds to workflow and
 * artifact GC pods (which it names `artifact-plugin-<name>` or
 * `init-artifact-<name>` in ARGO_CONTAINER_NAME), where that identity is the
 * workflow's own service account; anywhere else, such as the argo-server
 * sidecar whose identity is argo-server's, it is `deny`.
 */
export function ambientCredentials(
  value = process.env.ARTIFACT_DRIVER_AMBIENT_CREDENTIALS,
  container = process.env.ARGO_CONTAINER_NAME,
): AmbientCredentials {
  const setting = value?.trim() ?? "";
  if (setting === "allow" || setting === "deny") return setting;
  if (setting !== "") {
    throw new Error(
      `ARTIFACT_DRIVER_AMBIENT_CREDENTIALS is "${setting}"; use allow or deny (unset: allow only in Argo's workflow pods)`,
    );
  }
  return container?.startsWith("artifact-plugin-") || container?.startsWith("init-artifact-")
    ? "allow"
    : "deny";
}

/** The refusal of a configuration field that would use the container's own identity. */
export function ambientCredentialsRefused(field: string, what: string): DriverError {
  return new DriverError(
    "invalid-config",
    `field "${field}" would use ${what}, the plugin container's own identity, which this plugin refuses (ARTIFACT_DRIVER_AMBIENT_CREDENTIALS is deny${process.env.ARTIFACT_DRIVER_AMBIENT_CREDENTIALS ? "" : " by default outside workflow pods"}); give credentials through a Secret reference, or ask the operator to set ARTIFACT_DRIVER_AMBIENT_CREDENTIALS=allow where that identity is meant to be used`,
  );
}

/**
 * The text of a secret value, for the fields that hold text (keys, tokens,
 * passwords, PEM): UTF-8, refused when it is not (a binary value in a text
 * field would otherwise be silently mangled). A file's one trailing newline
 * is dropped, as editors add one.
 */
export function secretText(ref: SecretRef, bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new DriverError(
      "invalid-config",
      `${ref} holds ${bytes.length} bytes that are not UTF-8 text, which this field needs`,
    );
  }
  return ref.source.kind === "file" ? text.replace(/\r?\n$/, "") : text;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface SecretResolverOptions {
  allowed: Set<SecretSourceKind>;
  /** Kubernetes Secrets that may be read, by name; default: ARTIFACT_DRIVER_SECRET_NAMES (unset: any). */
  names?: Set<string>;
  /** Folder with the service account's token, ca.crt and namespace. */
  serviceAccountDir?: string;
  /** How long a Kubernetes Secret read is reused, in milliseconds. */
  cacheMs?: number;
  /** How long one Kubernetes API request may take (default 10 s). */
  timeoutMs?: number;
  /** Tries in all when the Kubernetes API answers 429 or 5xx (default 4). */
  attempts?: number;
  /** First wait between those tries (default 250 ms, doubled each time). */
  retryDelayMs?: number;
  /** Where a refresh that failed is reported; default: the plugin's log on stderr. */
  logger?: Logger;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface CachedSecret {
  expires: number;
  data: Promise<Record<string, string>>;
}

/**
 * Resolves secret references into bytes. Kubernetes Secrets are read through
 * the in-cluster API and reused for a short time, so a directory of a
 * thousand files costs one API call while rotated Secrets are noticed. When a
 * refresh fails because the API cannot be reached or is overloaded (429,
 * 5xx), the last value read keeps being served, with a warning: a passing API
 * outage must not fail artifacts whose credentials have not changed. A
 * Secret that is gone (404) or no longer readable (403) fails at once.
 */
export class SecretResolver {
  private readonly allowed: Set<SecretSourceKind>;
  private readonly names: Set<string> | undefined;
  private readonly serviceAccountDir: string;
  private readonly cacheMs: number;
  private readonly api: { timeoutMs: number; attempts: number; retryDelayMs: number };
  private readonly logger: Logger | undefined;
  private readonly secrets = new Map<string, CachedSecret>();
  /** The last successful read of each Secret, served while refreshes fail for passing reasons. */
  private readonly lastGood = new Map<string, { data: Record<string, string>; at: number }>();

  constructor(options: SecretResolverOptions) {
    this.allowed = options.allowed;
    this.names = options.names ?? allowedSecretNames();
    this.serviceAccountDir =
      options.serviceAccountDir ??
      process.env.ARTIFACT_DRIVER_SERVICE_ACCOUNT_DIR ??
      SERVICE_ACCOUNT_DIR;
    this.cacheMs = options.cacheMs ?? 30_000;
    this.api = {
      timeoutMs: options.timeoutMs ?? 10_000,
      attempts: options.attempts ?? 4,
      retryDelayMs: options.retryDelayMs ?? 250,
    };
    this.logger = options.logger;
  }

  /** The secret's bytes; every form of it that could show in a message is registered for scrubbing. */
  async resolve(ref: SecretRef): Promise<Buffer> {
    const source = ref.source;
    if (!this.allowed.has(source.kind)) {
      throw new DriverError(
        "invalid-config",
        `${ref} is refused: ${source.kind} secret references are disabled in this plugin; use a Kubernetes Secret reference {name, key}, or ask the operator to set ARTIFACT_DRIVER_SECRET_SOURCES on the plugin image`,
      );
    }
    const value = await this.read(ref, source);
    redactSecret(value);
    return value;
  }

  private async read(ref: SecretRef, source: SecretSource): Promise<Buffer> {
    switch (source.kind) {
      case "env": {
        const value = process.env[source.name];
        if (value === undefined)
          throw new DriverError("invalid-config", `${ref} is not set in the plugin container`);
        return Buffer.from(value);
      }
      case "file":
        try {
          return await readFile(source.path);
        } catch (cause) {
          throw new DriverError("invalid-config", `${ref} cannot be read`, { cause });
        }
      case "kubernetes": {
        if (this.names && !this.names.has(source.name)) {
          throw new DriverError(
            "invalid-config",
            `${ref} is refused: this plugin may read only the Kubernetes Secrets its operator listed in ARTIFACT_DRIVER_SECRET_NAMES (${[...this.names].sort().join(", ") || "none"}); use one of them, or ask the operator to add this one`,
          );
        }
        const data = await this.kubernetesSecret(source.name);
        const encoded = data[source.key];
        if (encoded === undefined) {
          const keys = Object.keys(data).sort().join(", ") || "none";
          throw new DriverError(
            "invalid-config",
            `${ref}: the Secret has no key "${source.key}" (its keys: ${keys})`,
          );
        }
        return Buffer.from(encoded, "base64");
      }
    }
  }

  private kubernetesSecret(name: string): Promise<Record<string, string>> {
    const now = Date.now();
    const cached = this.secrets.get(name);
    if (cached && cached.expires > now) return cached.data;
    const entry: CachedSecret = { expires: now + this.cacheMs, data: this.refresh(name) };
    this.secrets.set(name, entry);
    entry.data.catch(() => {
      if (this.secrets.get(name) === entry) this.secrets.delete(name);
    });
    return entry.data;
  }

  private async refresh(name: string): Promise<Record<string, string>> {
    try {
      const data = await fetchSecretData(name, {
        serviceAccountDir: this.serviceAccountDir,
        ...this.api,
      });
      this.lastGood.set(name, { data, at: Date.now() });
      return data;
    } catch (error) {
      const last = this.lastGood.get(name);
      const passing =
        error instanceof DriverError &&
        (error.code === "unavailable" || error.code === "transient");
      if (!passing || !last) {
        // Gone or forbidden now: the old value must not outlive the Secret or the grant.
        if (!passing) this.lastGood.delete(name);
        throw error;
      }
      const ageSeconds = Math.round((Date.now() - last.at) / 1000);
      (this.logger ?? defaultLogger()).warn(
        { secret: name, ageSeconds, code: error.code },
        `${error.message}; using the value read ${ageSeconds} s ago until the Kubernetes API answers again`,
      );
      return last.data;
    }
  }
}

let fallbackLogger: Logger | undefined;
function defaultLogger(): Logger {
  fallbackLogger ??= createLogger();
  return fallbackLogger;
}
