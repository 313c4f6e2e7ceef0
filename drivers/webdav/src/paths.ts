import { DriverError, type FolderEntry } from "@argo-artifact-drivers/core";
import { parseXML } from "webdav";

/**
 * Keys to URLs under the configured base URL, and PROPFIND answers back to
 * names. Each key segment is percent-encoded whole (`%`, `\`, `?`, `#` and
 * every non-ASCII byte included), so a segment such as `%2e%2e` or `..%2f`
 * stays a literal name and no URL parser can read a separator or a dot
 * segment into it; every URL is checked to have stayed under the base.
 */
export class Paths {
  /** The base URL with exactly one trailing `/`. */
  readonly base: URL;
  private readonly baseSegments: string[];

  constructor(url: string) {
    const base = new URL(url);
    base.hash = "";
    base.search = "";
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.base = base;
    const segments = decodedSegments(base.pathname);
    if (!segments) {
      throw new DriverError(
        "invalid-config",
        `the path of url ${base.href} is not valid percent-encoding`,
      );
    }
    this.baseSegments = segments;
  }

  /** The URL of `key` (a collection URL, with a trailing `/`, when `collection`); the base for `""`. */
  url(key: string, collection = false): URL {
    if (key === "") return new URL(this.base.href);
    const path = key.split("/").map(encodeSegment).join("/");
    const wanted = `${this.base.pathname}${path}${collection ? "/" : ""}`;
    const url = new URL(`${this.base.origin}${wanted}`);
    if (url.pathname !== wanted || url.origin !== this.base.origin) {
      throw new DriverError(
        "invalid-key",
        `the key "${key}" does not map to a path under ${this.base.href}`,
      );
    }
    return url;
  }

  /**
   * The entries of a PROPFIND Depth 1 answer for the collection at `key`:
   * the collection itself, anything not directly in it, and unusable names
   * are left out. Hrefs may be absolute URLs or paths, encoded as the server
   * likes: they are compared decoded, segment by segment.
   */
  async children(key: string, multistatus: string): Promise<FolderEntry[]> {
    const folder = [...this.baseSegments, ...(key === "" ? [] : key.split("/"))];
    const entries: FolderEntry[] = [];
    for (const response of await responses(multistatus)) {
      const segments = hrefSegments(response.href);
      if (segments === undefined || segments.length !== folder.length + 1) continue;
      if (!folder.every((segment, index) => segments[index] === segment)) continue;
      const name = segments[folder.length] as string;
      if (name === "" || name === "." || name === ".." || name.includes("/")) continue;
      entries.push({ name, kind: response.collection ? "directory" : "file" });
    }
    return entries;
  }

  /** The kind of the single resource of a PROPFIND Depth 0 answer. */
  async kind(multistatus: string): Promise<"file" | "directory" | undefined> {
    const [first] = await responses(multistatus);
    if (!first) return undefined;
    return first.collection ? "directory" : "file";
  }
}

/** `encodeURIComponent`, plus the characters it leaves that some servers treat specially. */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

interface DavResponse {
  href: string;
  collection: boolean;
}

/** The responses of a multistatus document (parsed by the `webdav` package) that found their resource. */
async function responses(multistatus: string): Promise<DavResponse[]> {
  let parsed: Awaited<ReturnType<typeof parseXML>>;
  try {
    parsed = await parseXML(multistatus);
  } catch (cause) {
    throw new DriverError(
      "unknown",
      `the server's PROPFIND answer is not a WebDAV multistatus document: ${String(cause)}`,
      { cause },
    );
  }
  const found: DavResponse[] = [];
  for (const response of parsed.multistatus.response) {
    if (typeof response.href !== "string") continue;
    const propstats = ([] as unknown[]).concat((response as { propstat?: unknown }).propstat ?? []);
    const ok = propstats.find((propstat) =>
      /\s2\d\d\s/.test(` ${String((propstat as { status?: unknown }).status ?? "")} `),
    ) as { prop?: { resourcetype?: unknown } } | undefined;
    if (!ok && response.status && !/\s2\d\d(\s|$)/.test(String(response.status))) continue;
    const resourcetype = ok?.prop?.resourcetype;
    found.push({
      href: response.href,
      collection:
        typeof resourcetype === "object" && resourcetype !== null && "collection" in resourcetype,
    });
  }
  return found;
}

/** The decoded path segments of an href (absolute URL or path), without a trailing empty one. */
function hrefSegments(href: string): string[] | undefined {
  // Not through a URL parser: it would turn a raw `\` into `/` and resolve dot segments.
  const path = href
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "")
    .replace(/[?#].*$/s, "");
  if (!path.startsWith("/")) return undefined;
  return decodedSegments(path);
}

function decodedSegments(path: string): string[] | undefined {
  const raw = path.split("/").slice(1);
  if (raw.at(-1) === "") raw.pop();
  try {
    return raw.map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}
