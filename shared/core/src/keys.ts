import { DriverError } from "./errors.js";
import { isTempName } from "./temp-names.js";

/** Longer keys are refused: S3 and GCS cap object names at 1,024 bytes. */
const MAX_KEY_BYTES = 1024;
/** C0 and C1 control characters (NUL has its own message). */
const CONTROL = /\p{Cc}/u;
/** Bidirectional embeddings, overrides and isolates. */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;

/**
 * The one place artifact keys are checked. Argo builds keys from `keyFormat`
 * templates and marks directories with a trailing `/` in its own GC, so one
 * leading and one trailing `/` are stripped; anything that could escape a base
 * path or collapse into another key is refused. Drivers never re-check.
 */
export function normalizeKey(raw: string): string {
  let key = raw;
  if (key.startsWith("/")) key = key.slice(1);
  if (key.endsWith("/")) key = key.slice(0, -1);
  if (key === "") throw invalidKey(raw, "the key is empty");
  if (key.includes("\0")) throw invalidKey(raw, "the key contains a NUL character");
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw invalidKey(`${raw.slice(0, 64)}…`, `the key is longer than ${MAX_KEY_BYTES} bytes`);
  // Windows and some appliance servers read "\\" as a separator, so it could
  // climb out of a base path that only "/"-segments are checked against.
  if (key.includes("\\")) throw invalidKey(raw, "the key contains a backslash");
  if (CONTROL.test(key)) throw invalidKey(raw, "the key contains a control character");
  if (BIDI.test(key))
    throw invalidKey(raw, "the key contains a bidirectional override, which disguises names");
  for (const segment of key.split("/")) {
    if (segment === "") throw invalidKey(raw, "the key has an empty segment ('//')");
    if (segment === "." || segment === "..")
      throw invalidKey(raw, `the key has a '${segment}' segment`);
    if (isTempName(segment))
      throw invalidKey(raw, `'${segment}' is reserved for uploads in progress`);
  }
  return key;
}

/**
 * Checks a path relative to a directory artifact, as listed by a backend or
 * found on disk, before it becomes a local path or a key: it must stay inside.
 */
export function checkRelativePath(relative: string, directoryKey: string): string {
  const segments = relative.split("/");
  if (
    relative === "" ||
    segments.some((s) => s === "" || s === "." || s === ".." || s.includes("\0"))
  ) {
    throw new DriverError(
      "invalid-key",
      `the object "${directoryKey}/${relative}" has a name that would leave the directory`,
    );
  }
  return relative;
}

function invalidKey(raw: string, why: string): DriverError {
  return new DriverError("invalid-key", `invalid key ${JSON.stringify(raw)}: ${why}`);
}
