import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { copyFile, mkdir, open, opendir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DriverError,
  type ErrorCode,
  FRAME_BYTES,
  type StorageAdapter,
  type WriteOptions,
} from "@argo-artifact-drivers/core";

/** File system error codes, translated once at the edge. */
const ERROR_CODES: Record<string, ErrorCode> = {
  ENOENT: "not-found",
  EACCES: "permission-denied",
  EPERM: "permission-denied",
  EROFS: "permission-denied",
  EISDIR: "conflict",
  ENOTDIR: "conflict",
  EEXIST: "conflict",
  ENOTEMPTY: "conflict",
  ENOSPC: "transient",
  EMFILE: "transient",
};

function translate(error: unknown, what: string): DriverError {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  return new DriverError(ERROR_CODES[code] ?? "unknown", `${what}: ${code || String(error)}`, {
    cause: error,
  });
}

/** Keys are paths below `root`; the core has already refused `..` and empty segments. */
export class LocalAdapter implements StorageAdapter {
  readonly target: string;

  private constructor(private readonly root: string) {
    this.target = `local folder ${root}`;
  }

  static async open(root: string): Promise<LocalAdapter> {
    const info = await stat(root).catch((cause: unknown) => {
      throw new DriverError("invalid-config", `the root folder ${root} does not exist`, { cause });
    });
    if (!info.isDirectory())
      throw new DriverError("invalid-config", `the root ${root} is not a folder`);
    return new LocalAdapter(root);
  }

  private path(key: string): string {
    return join(this.root, ...key.split("/"));
  }

  async stat(key: string): Promise<"file" | "directory" | "missing"> {
    try {
      return (await stat(this.path(key))).isDirectory() ? "directory" : "file";
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
      throw translate(error, "cannot inspect the key");
    }
  }

  async read(key: string): Promise<Readable> {
    const handle = await open(this.path(key), "r").catch((error: unknown) => {
      throw translate(error, "cannot open the object");
    });
    if ((await handle.stat()).isDirectory()) {
      await handle.close();
      throw new DriverError("not-found", "the key is a directory, not an object");
    }
    return handle.createReadStream({ highWaterMark: FRAME_BYTES });
  }

  async write(key: string, body: Readable, { signal }: WriteOptions): Promise<void> {
    await this.replace(key, (temp) => pipeline(body, createWriteStream(temp), { signal }));
  }

  async writeFromFile(key: string, filePath: string): Promise<void> {
    await this.replace(key, (temp) => copyFile(filePath, temp));
  }

  async readToFile(key: string, filePath: string): Promise<void> {
    await copyFile(this.path(key), filePath).catch((error: unknown) => {
      throw translate(error, "cannot copy the object");
    });
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true }).catch((error: unknown) => {
      throw translate(error, "cannot delete the object");
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.path(prefix), { recursive: true, force: true }).catch((error: unknown) => {
      throw translate(error, "cannot delete the directory");
    });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const folder = this.path(prefix);
    let entries: AsyncIterable<import("node:fs").Dirent>;
    try {
      entries = await opendir(folder, { recursive: true, bufferSize: 256 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw translate(error, "cannot list the directory");
    }
    for await (const entry of entries) {
      if (!entry.isFile()) continue;
      const relativePath = relative(folder, join(entry.parentPath, entry.name));
      yield `${prefix}/${relativePath.split(sep).join("/")}`;
    }
  }

  async close(): Promise<void> {}

  /** Writes through a temp file beside the target and renames it: never a partial file at the key. */
  private async replace(key: string, writeTemp: (temp: string) => Promise<void>): Promise<void> {
    const target = this.path(key);
    const temp = join(
      dirname(target),
      `.${basename(target)}.partial-${randomBytes(4).toString("hex")}`,
    );
    try {
      await mkdir(dirname(target), { recursive: true });
      await writeTemp(temp);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error instanceof DriverError ? error : translate(error, "cannot write the object");
    }
  }
}
