import { createHash, createHmac } from "node:crypto";
import { DriverError } from "@argo-artifact-drivers/core";

/** How the server's host key is checked: always one of these, decided from the configuration. */
export interface HostKeyPolicy {
  readonly kind: "known-hosts" | "fingerprint" | "insecure";
  /** Host key algorithms to offer, so the server presents a key we know; undefined: the SSH library's defaults. */
  readonly algorithms: string[] | undefined;
  /** Why the offered key (an SSH wire-format public key) is refused, or undefined when it is accepted. */
  refusal(offered: Buffer): string | undefined;
}

interface PolicyOptions {
  host: string;
  port: number;
  knownHosts: { text: string; source: string } | undefined;
  fingerprint: string | undefined;
  insecure: boolean;
}

export function hostKeyPolicy(options: PolicyOptions): HostKeyPolicy {
  if (options.knownHosts) return knownHostsPolicy(options, options.knownHosts);
  if (options.fingerprint) return fingerprintPolicy(options.fingerprint);
  if (options.insecure)
    return { kind: "insecure", algorithms: undefined, refusal: () => undefined };
  throw new Error("no host key policy configured");
}

/** The `SHA256:...` fingerprint OpenSSH prints for a wire-format public key. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name at the start of a wire-format public key, e.g. `ssh-ed25519`. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "unknown";
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString("latin1");
}

function describe(key: Buffer): string {
  return `${keyTypeOf(key)} key ${fingerprintOf(key)}`;
}

function fingerprintPolicy(expected: string): HostKeyPolicy {
  const want = expected.replace(/=+$/, "");
  return {
    kind: "fingerprint",
    algorithms: undefined,
    refusal(offered) {
      if (fingerprintOf(offered) === want) return undefined;
      return `host key mismatch: hostKeyFingerprint is ${want} but the server offered ${describe(offered)}; if the server's key was changed on purpose, pin the new fingerprint, otherwise the connection may be intercepted`;
    },
  };
}

/** Key types in the order of the SSH library's own preference; `ssh-rsa` keys are offered with SHA-2 signatures first. */
const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

function knownHostsPolicy(
  options: PolicyOptions,
  knownHosts: { text: string; source: string },
): HostKeyPolicy {
  const name = options.port === 22 ? options.host : `[${options.host}]:${options.port}`;
  const trusted: Buffer[] = [];
  const revoked: Buffer[] = [];
  let lineNumber = 0;
  for (const rawLine of knownHosts.text.split(/\r?\n/)) {
    lineNumber++;
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]?.startsWith("@")) marker = fields.shift();
    const [patterns, type, encoded] = fields;
    if (!patterns || !type || !encoded) {
      throw new DriverError(
        "invalid-config",
        `${knownHosts.source}: line ${lineNumber} is not a known_hosts line ("host key-type base64-key")`,
      );
    }
    if (marker === "@cert-authority" || !hostMatches(patterns, name)) continue;
    const key = Buffer.from(encoded, "base64");
    if (keyTypeOf(key) !== type) {
      throw new DriverError(
        "invalid-config",
        `${knownHosts.source}: line ${lineNumber} has a key that is not a valid ${type} key`,
      );
    }
    (marker === "@revoked" ? revoked : trusted).push(key);
  }
  if (trusted.length === 0) {
    throw new DriverError(
      "invalid-config",
      `${knownHosts.source} has no key for ${name}; add the lines printed by "ssh-keyscan -p ${options.port} ${options.host}" (host names in known_hosts must match the configured host, written [host]:port when the port is not 22)`,
    );
  }
  const types = new Set(trusted.map(keyTypeOf));
  const algorithms = Object.entries(ALGORITHMS_BY_KEY_TYPE)
    .filter(([type]) => types.has(type))
    .flatMap(([, names]) => names);
  return {
    kind: "known-hosts",
    algorithms: algorithms.length > 0 ? algorithms : undefined,
    refusal(offered) {
      if (revoked.some((key) => key.equals(offered))) {
        return `the server offered ${describe(offered)}, which ${knownHosts.source} marks as @revoked`;
      }
      if (trusted.some((key) => key.equals(offered))) return undefined;
      const expected = trusted.map(describe).join(", ");
      return `host key mismatch: ${knownHosts.source} lists ${expected} for ${name} but the server offered ${describe(offered)}; if the server's key was changed on purpose, update the known_hosts lines, otherwise the connection may be intercepted`;
    },
  };
}

/** OpenSSH's host matching: comma-separated patterns with `*` and `?`, `!` negation, or one hashed `|1|salt|hash` name. */
function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    if (!salt || !hash) return false;
    const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return digest === hash;
  }
  let matched = false;
  for (const pattern of patterns.split(",")) {
    const negated = pattern.startsWith("!");
    const glob = negated ? pattern.slice(1) : pattern;
    if (!globMatches(glob.toLowerCase(), name.toLowerCase())) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globMatches(glob: string, text: string): boolean {
  const pattern = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${pattern}$`).test(text);
}
