import { randomBytes } from "node:crypto";

/**
 * The one naming scheme for work in progress, local or remote:
 * `.<name>.partial-<12 hex>` beside the final name. Recognisable after a
 * crash, never equal to a key (the core refuses keys with such a segment),
 * and hidden from every listing the core returns.
 */
const TEMP_NAME = /^\..*\.partial-[0-9a-f]{12}$/;

/** A fresh temp name for `name` (a file or folder name, or the last segment of a key). */
export function tempName(name: string): string {
  return `.${name}.partial-${randomBytes(6).toString("hex")}`;
}

/** The key or path `path` with its last `/`-separated segment replaced by a temp name. */
export function tempSibling(path: string, separator = "/"): string {
  const cut = path.lastIndexOf(separator) + 1;
  return path.slice(0, cut) + tempName(path.slice(cut));
}

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** True when any segment of `key` is a temp name: in-flight or crash-left work. */
export function hasTempSegment(key: string): boolean {
  return key.split("/").some(isTempName);
}
