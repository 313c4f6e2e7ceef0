import { DriverError } from "./errors.js";
import { isTempName } from "./temp-names.js";

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
