import { createHash, randomBytes } from "node:crypto";

/**
 * Produces the Authorization header of each request. Basic and bearer are one
 * fixed header; digest (RFC 7616) answers the server's latest challenge, so
 * it needs a challenge first and a new one when the server calls its nonce
 * stale.
 */
export interface Authenticator {
  /** The header for `method` on `uri` (path and query, as sent), or undefined before a digest challenge. */
  header(method: string, uri: string): string | undefined;
  /**
   * Takes the WWW-Authenticate values of a 401. True when a retry with the
   * new challenge may succeed: the first challenge, or a nonce the server
   * called stale. False when the credentials themselves were refused.
   */
  challenged(wwwAuthenticate: readonly string[]): boolean;
  /** Digest only: true when no challenge is known or it is older than `maxAgeMs`. */
  needsChallenge(maxAgeMs: number): boolean;
}

export type Credentials =
  | { kind: "none" }
  | { kind: "basic"; username: string; password: string }
  | { kind: "digest"; username: string; password: string }
  | { kind: "bearer"; token: string };

export function authenticator(credentials: Credentials): Authenticator {
  switch (credentials.kind) {
    case "none":
      return fixed(undefined);
    case "basic":
      return fixed(
        `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`,
      );
    case "bearer":
      return fixed(`Bearer ${credentials.token}`);
    case "digest":
      return new DigestAuthenticator(credentials.username, credentials.password);
  }
}

function fixed(header: string | undefined): Authenticator {
  return {
    header: () => header,
    challenged: () => false,
    needsChallenge: () => false,
  };
}

interface Challenge {
  realm: string;
  nonce: string;
  opaque: string | undefined;
  qop: "auth" | undefined;
  algorithm: "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";
  receivedAt: number;
}

const ALGORITHMS = new Set(["MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS"]);

class DigestAuthenticator implements Authenticator {
  private challenge: Challenge | undefined;
  private count = 0;

  constructor(
    private readonly username: string,
    private readonly password: string,
  ) {}

  header(method: string, uri: string): string | undefined {
    const c = this.challenge;
    if (!c) return undefined;
    const hash = c.algorithm.startsWith("SHA-256") ? sha256 : md5;
    const cnonce = randomBytes(12).toString("hex");
    this.count += 1;
    const nc = this.count.toString(16).padStart(8, "0");
    let ha1 = hash(`${this.username}:${c.realm}:${this.password}`);
    if (c.algorithm.endsWith("-sess")) ha1 = hash(`${ha1}:${c.nonce}:${cnonce}`);
    const ha2 = hash(`${method}:${uri}`);
    const response = c.qop
      ? hash(`${ha1}:${c.nonce}:${nc}:${cnonce}:${c.qop}:${ha2}`)
      : hash(`${ha1}:${c.nonce}:${ha2}`);
    const fields = [
      `username=${quote(this.username)}`,
      `realm=${quote(c.realm)}`,
      `nonce=${quote(c.nonce)}`,
      `uri=${quote(uri)}`,
      `algorithm=${c.algorithm}`,
      `response=${quote(response)}`,
    ];
    if (c.opaque !== undefined) fields.push(`opaque=${quote(c.opaque)}`);
    if (c.qop) fields.push(`qop=${c.qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
    return `Digest ${fields.join(", ")}`;
  }

  challenged(wwwAuthenticate: readonly string[]): boolean {
    const params = wwwAuthenticate.map(digestParams).find((found) => found !== undefined);
    if (!params?.nonce || params.realm === undefined) return false;
    const algorithm = (params.algorithm ?? "MD5").toUpperCase();
    if (!ALGORITHMS.has(algorithm)) return false;
    const qops = (params.qop ?? "").split(",").map((value) => value.trim().toLowerCase());
    const first = this.challenge === undefined;
    this.challenge = {
      realm: params.realm,
      nonce: params.nonce,
      opaque: params.opaque,
      qop: qops.includes("auth") ? "auth" : undefined,
      algorithm: algorithm
        .replace("MD5-SESS", "MD5-sess")
        .replace("SHA-256-SESS", "SHA-256-sess") as Challenge["algorithm"],
      receivedAt: Date.now(),
    };
    this.count = 0;
    return first || params.stale?.toLowerCase() === "true";
  }

  needsChallenge(maxAgeMs: number): boolean {
    return !this.challenge || Date.now() - this.challenge.receivedAt > maxAgeMs;
  }
}

/** The parameters of a `Digest ...` challenge (one WWW-Authenticate value), or undefined for other schemes. */
export function digestParams(challenge: string): Record<string, string> | undefined {
  const scheme = /^\s*Digest\s+/i.exec(challenge);
  if (!scheme) return undefined;
  const params: Record<string, string> = {};
  const pattern = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*(?:,|$)/y;
  pattern.lastIndex = scheme[0].length;
  for (let match = pattern.exec(challenge); match; match = pattern.exec(challenge)) {
    const name = (match[1] as string).toLowerCase();
    params[name] = match[2]?.replace(/\\(.)/g, "$1") ?? match[3] ?? "";
    while (challenge[pattern.lastIndex] === " ") pattern.lastIndex++;
  }
  return params;
}

function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

function md5(text: string): string {
  return createHash("md5").update(text, "utf8").digest("hex");
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
