/**
 * Every secret value handed out in this process, and the derived forms
 * drivers register (a key's base64, a signed token), so that the logger and
 * every error message can replace them with REDACTED whatever produced the
 * text. Bounded: the oldest values leave first (rotated secrets).
 */
const values = new Set<string>();
const MAX_VALUES = 1024;
/** Shorter values (a port, "true") cannot be told apart from ordinary text. */
const MIN_LENGTH = 4;

export function redact(value: string): void {
  if (value.length < MIN_LENGTH || values.has(value)) return;
  if (values.size >= MAX_VALUES) values.delete(values.values().next().value as string);
  values.add(value);
  // As it appears inside a JSON log line (quotes, backslashes, newlines escaped).
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) values.add(escaped);
}

/** `text` with every registered value replaced by REDACTED. */
export function scrub(text: string): string {
  let clean = text;
  for (const value of values)
    if (clean.includes(value)) clean = clean.replaceAll(value, "REDACTED");
  return clean;
}
