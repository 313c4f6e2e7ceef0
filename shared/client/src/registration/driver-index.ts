import { readFileSync } from "node:fs";

/** A JSON Schema object. */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * What this client reads of an index entry (index/drivers.json, documented in
 * index/README.md). The client carries a copy of the index made when it was
 * built, so `validate` and `manifests` work offline and for every driver in
 * it, including drivers published elsewhere.
 */
export interface IndexedDriver {
  name: string;
  description: string;
  version: string;
  readme: string;
  image: {
    name: string;
    registry: string | null;
    tags: string[];
    entrypoint: string[];
    user: number;
  };
  secrets: { sources: string[]; fields: string[] };
  configuration: JsonSchema;
}

export interface DriverIndex {
  drivers: IndexedDriver[];
}

const BUNDLED = new URL("../drivers.json", import.meta.url);

/** Reads an index file: the one bundled with this client by default. */
export function loadDriverIndex(path: string | URL = BUNDLED): DriverIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`cannot read the driver index ${String(path)}: ${(error as Error).message}`);
  }
  const drivers = (parsed as { drivers?: unknown }).drivers;
  if (!Array.isArray(drivers) || drivers.some((entry) => !isEntry(entry))) {
    throw new Error(
      `${String(path)} is not a driver index: expected {"drivers": [...]} with name, image and configuration in every entry`,
    );
  }
  return { drivers: drivers as IndexedDriver[] };
}

function isEntry(value: unknown): boolean {
  const entry = value as Partial<IndexedDriver> | null;
  return (
    typeof entry?.name === "string" &&
    typeof entry.image?.name === "string" &&
    Array.isArray(entry.image.entrypoint) &&
    typeof entry.configuration === "object"
  );
}

export function findDriver(index: DriverIndex, name: string): IndexedDriver | undefined {
  return index.drivers.find((driver) => driver.name === name);
}

/** The repository path of an image reference: no registry host, tag or digest. */
export function imagePath(reference: string): string {
  const withoutDigest = reference.split("@")[0] ?? reference;
  const parts = withoutDigest.split("/");
  const last = parts.pop() ?? "";
  parts.push(last.split(":")[0] ?? last);
  // A first part with a dot, a colon or "localhost" is a registry host (Docker's rule).
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    parts.shift();
  }
  return parts.join("/");
}

/**
 * The driver an image reference runs: the entry whose image name the
 * reference's path is or ends with, else the one whose name ends the last
 * path segment, or begins it (`.../argo-artifact-driver-s3:1.0`, `.../s3-plugin`).
 * Undefined when none or
 * several match.
 */
export function driverOfImage(index: DriverIndex, reference: string): IndexedDriver | undefined {
  const path = imagePath(reference);
  const exact = index.drivers.filter(
    (driver) => path === driver.image.name || path.endsWith(`/${driver.image.name}`),
  );
  if (exact.length === 1) return exact[0];
  const segment = path.split("/").pop() ?? "";
  const byName = index.drivers.filter(
    (driver) =>
      segment === driver.name ||
      segment.endsWith(`-${driver.name}`) ||
      segment.startsWith(`${driver.name}-`),
  );
  return byName.length === 1 ? byName[0] : undefined;
}
