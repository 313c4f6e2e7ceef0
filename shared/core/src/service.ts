import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { type StatusObject, status } from "@grpc/grpc-js";
import { type CallDependencies, callRunner, notFound } from "./call.js";
import { asDriverError, DriverError, type ErrorCode, LOCAL_PATH_HINT } from "./errors.js";
import type { ArtifactServiceServer, SaveStreamArtifactRequest } from "./generated/artifact.js";
import { scrub } from "./redaction.js";
import { FrameWriter, nextUnlessAborted } from "./streams.js";
import { loadFile, loadTree, saveFile, saveTree } from "./transfer.js";

/** How long a SaveStream that ended waits for a late cancellation before it commits. */
const CANCEL_GRACE_MS = 50;

/**
 * Translates each ArtifactService RPC into storage calls, with the semantics
 * Argo's executor and argo-server rely on (docs/argo-plugin-contract.md).
 * gRPC types stop here. Failures are answered in the response's `error`
 * field (Argo treats it like an error status; SaveStream answers with a
 * status, see there) and never escape a handler, so the server keeps serving
 * after any bad request.
 */
export function createArtifactService(deps: CallDependencies): ArtifactServiceServer {
  const run = callRunner(deps);
  const errorText = (error: unknown) =>
    error instanceof DriverError ? error.message : scrub(String(error));

  return {
    load(call, callback) {
      const signal = callSignal(call);
      const { inputArtifact, path } = call.request;
      run("Load", inputArtifact, signal, async (scope) => {
        if (path === "")
          throw new DriverError("invalid-config", "the request has no local path to load into", {
            hint: "This is a bug in the caller: Argo always sends the path to load into.",
          });
        const kind = await scope.retried(() => scope.storage.kind(scope.key, { signal }));
        if (kind === "missing") throw notFound(scope.key);
        return kind === "file"
          ? loadFile(scope.transfer, scope.key, path)
          : loadTree(scope.transfer, scope.key, path);
      }).then(
        () => callback(null, { success: true, error: "" }),
        (error) => callback(null, { success: false, error: errorText(error) }),
      );
    },

    save(call, callback) {
      const signal = callSignal(call);
      const { outputArtifact, path } = call.request;
      run("Save", outputArtifact, signal, async (scope) => {
        const local = await stat(path).catch((cause: unknown) => {
          throw new DriverError(
            "not-found",
            `the local path "${path}" to save does not exist or cannot be read`,
            { cause, hint: LOCAL_PATH_HINT },
          );
        });
        if (!local.isFile() && !local.isDirectory()) {
          throw new DriverError(
            "conflict",
            `the local path "${path}" to save is neither a file nor a folder`,
            { hint: LOCAL_PATH_HINT },
          );
        }
        if (local.isDirectory()) return saveTree(scope.transfer, path, scope.key);
        await saveFile(scope.transfer, path, scope.key, local.size);
        return { bytes: local.size, files: 1 };
      }).then(
        () => callback(null, { success: true, error: "" }),
        (error) => callback(null, { success: false, error: errorText(error) }),
      );
    },

    delete(call, callback) {
      const signal = callSignal(call);
      run("Delete", call.request.artifact, signal, async (scope) => {
        const { storage, key } = scope;
        const kind = await scope.retried(() => storage.kind(key, { signal }));
        if (kind === "file") await scope.retried(() => storage.delete(key, { signal }));
        if (kind === "directory") await scope.retried(() => storage.deletePrefix(key, { signal }));
        return undefined;
      }).then(
        () => callback(null, { success: true, error: "" }),
        (error) => callback(null, { success: false, error: errorText(error) }),
      );
    },

    listObjects(call, callback) {
      const signal = callSignal(call);
      let objects: string[] = [];
      run("ListObjects", call.request.artifact, signal, async (scope) => {
        const { storage, key } = scope;
        const kind = await scope.retried(() => storage.kind(key, { signal }));
        if (kind === "missing") throw notFound(key);
        objects =
          kind === "file"
            ? [key]
            : await scope.retried(() => Array.fromAsync(storage.files(key, { signal })));
        return { files: objects.length };
      }).then(
        () => callback(null, { objects, error: "" }),
        (error) => callback(null, { objects: [], error: errorText(error) }),
      );
    },

    isDirectory(call, callback) {
      const signal = callSignal(call);
      let isDirectory = false;
      run("IsDirectory", call.request.artifact, signal, async (scope) => {
        const kind = await scope.retried(() => scope.storage.kind(scope.key, { signal }));
        isDirectory = kind === "directory";
        return undefined;
      }).then(
        () => callback(null, { isDirectory, error: "" }),
        (error) => callback(null, { isDirectory: false, error: errorText(error) }),
      );
    },

    openStream(call) {
      const signal = callSignal(call);
      const frames = new FrameWriter(call, signal);
      run("OpenStream", call.request.artifact, signal, async (scope) => {
        const source = await scope.retried(() => scope.storage.read(scope.key, { signal }));
        return { bytes: await frames.sendAll(source) };
      })
        .then(() => frames.finish({ data: Buffer.alloc(0), isEnd: true, error: "" }))
        .catch((error: unknown) =>
          frames.finish({ data: Buffer.alloc(0), isEnd: false, error: errorText(error) }),
        )
        .catch(() => call.destroy());
    },

    saveStream(call, callback) {
      const signal = callSignal(call);
      const frames = call[Symbol.asyncIterator]() as AsyncIterator<SaveStreamArtifactRequest>;
      frames
        .next()
        .then((first) => {
          const artifact = first.done ? undefined : first.value.outputArtifact;
          let bytes = 0;
          return run("SaveStream", artifact, signal, async (scope) => {
            const leading = first.done ? undefined : first.value.chunk;
            async function* chunks(): AsyncGenerator<Buffer> {
              if (leading && leading.length > 0) {
                bytes += leading.length;
                yield leading;
              }
              for (;;) {
                const next = await nextUnlessAborted(frames, signal);
                if (next.done) {
                  // A Node (grpc-js) client's cancel sends END_STREAM just
                  // before RST_STREAM, so the stream looks complete for a
                  // moment: wait briefly for a cancellation before committing.
                  // (grpc-go, Argo's client, sends RST_STREAM alone.)
                  await sleep(CANCEL_GRACE_MS);
                  signal.throwIfAborted();
                  return;
                }
                if (next.value.chunk.length === 0) continue;
                bytes += next.value.chunk.length;
                yield next.value.chunk;
              }
            }
            // Not retried: the stream cannot be replayed. The write is
            // atomic, so a broken stream leaves nothing at the key.
            await scope.storage.write(scope.key, Readable.from(chunks(), { objectMode: false }), {
              signal,
            });
            return { bytes };
          });
        })
        .then(
          () => callback(null, { success: true, error: "" }),
          // A status, not success=false: when the plugin answers before the
          // client has sent everything, Argo's client only sees EOF on Send
          // and reads the reason from the status CloseAndRecv returns.
          (error) => callback(statusOf(error)),
        );
    },

    getCapabilities(_call, callback) {
      callback(null, { supportsSaveStream: true });
    },
  };
}

const STATUS_OF_CODE: Record<ErrorCode, status> = {
  "not-found": status.NOT_FOUND,
  "permission-denied": status.PERMISSION_DENIED,
  "invalid-config": status.INVALID_ARGUMENT,
  "invalid-key": status.INVALID_ARGUMENT,
  conflict: status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  transient: status.UNAVAILABLE,
  unknown: status.UNKNOWN,
};

/** A failed call as a gRPC status whose details are the call's message. */
function statusOf(error: unknown): Partial<StatusObject> {
  const failure = asDriverError(error);
  return { code: STATUS_OF_CODE[failure.code], details: failure.message };
}

/** An AbortSignal that fires when the client cancels the call or the server force-stops. */
function callSignal(call: { on(event: "cancelled", listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on("cancelled", () =>
    controller.abort(new DriverError("transient", "the client cancelled the call")),
  );
  return controller.signal;
}
