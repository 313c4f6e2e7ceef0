import { Readable } from "node:stream";
import { defineDriver, type Logger, openStorage, type Storage } from "@argo-artifact-drivers/core";
import { afterEach } from "vitest";
import { SftpAdapter } from "../src/adapter.js";
import { hostKeyPolicy } from "../src/host-key.js";
import { backend } from "./plugin.js";

/**
 * The adapter inside the core's Storage, built in this process as the server
 * builds it (real `retry` and `parallel`), for what RPCs cannot provoke or
 * observe: broken bodies, dropped connections, what is left on the server.
 */
export interface Opened {
  storage: Storage;
  adapter: SftpAdapter;
}

const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((storage) => storage.close()));
});

/** A logger that keeps the messages it is given. */
export function recordingLogger(events: string[]): Logger {
  const record = (_fields: unknown, message?: string) => {
    if (message) events.push(message);
  };
  const logger = { debug: record, info: record, warn: record, error: record };
  return logger as unknown as Logger;
}

export async function openAdapter(
  basePath: string,
  options: { idleMs?: number; events?: string[]; parallelism?: number } = {},
): Promise<Opened> {
  const sftp = backend();
  const definition = defineDriver({
    name: "sftp",
    config: {},
    createAdapter: (_config, context) =>
      new SftpAdapter(
        {
          host: sftp.host,
          port: sftp.port,
          username: sftp.username,
          password: sftp.password,
          privateKey: undefined,
          basePath,
          hostKey: hostKeyPolicy({
            host: sftp.host,
            port: sftp.port,
            knownHosts: undefined,
            fingerprint: sftp.fingerprints.ed25519,
            insecure: false,
          }),
          connectTimeoutMs: 5_000,
          silenceTimeoutMs: 30_000,
          idleMs: options.idleMs,
        },
        // The adapter's own log lines, to count connections.
        { ...context, logger: recordingLogger(options.events ?? []) },
      ),
  });
  const storage = await openStorage(definition, `parallelism: ${options.parallelism ?? 8}`);
  opened.push(storage);
  return { storage: storage.storage, adapter: storage.storage.adapter as SftpAdapter };
}

export const signal: AbortSignal = new AbortController().signal;

export function body(text: string): Readable {
  return Readable.from([Buffer.from(text)]);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
