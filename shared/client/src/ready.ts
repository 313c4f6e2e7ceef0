import { stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "@grpc/grpc-js";
import { ArtifactClientError, errorText, type Operation } from "./errors.js";

const SOCKET_POLL_MS = 50;

/**
 * Waits for the socket file to exist and the channel to connect, within
 * `timeoutMs`, as Argo does before its first call (its
 * `connectionTimeoutSeconds`). Each failure says which of the two did not happen.
 */
export async function waitForPlugin(
  socketPath: string,
  channel: Pick<Client, "waitForReady">,
  timeoutMs: number,
  operation: Operation,
  key: string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const waited = formatSeconds(timeoutMs);
  for (;;) {
    const info = await stat(socketPath).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
      throw new ArtifactClientError(
        operation,
        "unavailable",
        `cannot use socket ${socketPath}: ${errorText(error)}`,
        { key, cause: error },
      );
    });
    if (info?.isSocket()) break;
    if (info) {
      throw new ArtifactClientError(
        operation,
        "unavailable",
        `${socketPath} exists but is not a Unix socket; pass the socket path the plugin was started with`,
        { key },
      );
    }
    if (Date.now() >= deadline) {
      throw new ArtifactClientError(
        operation,
        "unavailable",
        `no plugin socket at ${socketPath} after waiting ${waited}: start the plugin with this socket path as its argument, or pass the right --socket`,
        { key },
      );
    }
    await sleep(SOCKET_POLL_MS);
  }
  await new Promise<void>((resolvePromise, reject) => {
    channel.waitForReady(Math.max(deadline, Date.now() + 100), (error) => {
      if (!error) return resolvePromise();
      reject(
        new ArtifactClientError(
          operation,
          "unavailable",
          `nothing accepted a connection on socket ${socketPath} within ${waited}: the socket file exists but no plugin is listening (a stale socket of a stopped plugin?)`,
          { key, cause: error },
        ),
      );
    });
  });
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
