/**
 * Every secret value handed out in this process, and the derived forms
 * drivers register (a key's base64, a signed token), so that the logger and
 * every error message can replace them with REDACTED whatever produced the
 * text. Bounded: the values used least recently leave first (rotated
 * secrets); each use of a value makes it the newest again.
 */
const values = new Set<string>();
const MAX_VALUES = 1024;
/** Shorter values (a port, "true") cannot be told apart from ordinary text. */
const MIN_LENGTH = 4;

export function redact(value: string): void {
  if (value.length < MIN_LENGTH) return;
  remember(value);
  // As it appears inside a JSON log line (quotes, backslashes, newlines escaped).
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) remember(escaped);
}

/**
 * Registers a secret's bytes in every form a message could carry them: as
 * text (when they are UTF-8, also without surrounding whitespace, as drivers
 * trim), and as base64 and hex, the forms binary keys travel in (an SSE-C key
 * goes to S3 as base64).
 */
export function redactSecret(bytes: Uint8Array): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString("utf8");
  if (Buffer.from(text).equals(buffer)) {
    redact(text);
    const trimmed = text.trim();
    if (trimmed !== text) redact(trimmed);
  }
  redact(buffer.toString("base64"));
  redact(buffer.toString("hex"));
}

/** The values longest first, so that a value inside another (a key inside its base64) leaves no remnant. */
let longestFirst: string[] | undefined;

function remember(value: string): void {
  const known = values.delete(value);
  if (values.size >= MAX_VALUES) values.delete(values.values().next().value as string);
  values.add(value);
  if (!known) longestFirst = undefined;
}

/** `text` with every registered value replaced by REDACTED. */
export function scrub(text: string): string {
  longestFirst ??= [...values].sort((a, b) => b.length - a.length);
  let clean = text;
  for (const value of longestFirst)
    if (clean.includes(value)) clean = clean.replaceAll(value, "REDACTED");
  return clean;
}
