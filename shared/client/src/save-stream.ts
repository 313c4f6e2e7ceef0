import {
  type Artifact,
  type ArtifactServiceClient,
  type SaveArtifactResponse,
  SaveStreamArtifactRequest,
} from "@argo-artifact-drivers/core/proto";
import { type CallOptions, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ArtifactClientError, checkOutcome, errorText, fromGrpcError } from "./errors.js";
import { type ByteSource, rechunk } from "./rechunk.js";

/** SaveStream frames handed to grpc-js before the earlier ones reach the socket. */
const MAX_FRAMES_IN_FLIGHT = 2;

export interface SaveStreamCall {
  grpc: ArtifactServiceClient;
  key: string;
  /** The first frame's artifact. */
  artifact: Artifact;
  source: ByteSource;
  chunkSize: number;
  callOptions: Partial<CallOptions>;
  signal: AbortSignal | undefined;
}

/**
 * One SaveStream call, as `ArtifactClient.saveStream` documents it: bounded
 * frames in flight, an early answer from the plugin stops the sending, a
 * failing source cancels the call. Resolves to the number of bytes sent.
 */
export async function saveStream(call: SaveStreamCall): Promise<number> {
  const { grpc, key, signal } = call;
  type Answer = { error: ServiceError | null; response: SaveArtifactResponse | undefined };
  let settle: (answer: Answer) => void = () => {};
  const answered = new Promise<Answer>((resolvePromise) => {
    settle = resolvePromise;
  });
  const stream = grpc.saveStream(new Metadata(), call.callOptions, (error, response) =>
    settle({ error, response }),
  );
  // Writing after the plugin has answered errors on the stream; the answer tells the real story.
  stream.on("error", () => {});
  const onAbort = () => stream.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });

  let inFlight = 0;
  let isAnswered = false;
  // Single waiters woken by callbacks. (Racing each step against the long-lived
  // `answered` promise would keep every chunk reachable from it until the call
  // ends: a leak the size of the artifact.)
  let wakeWriter: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  void answered.then(() => {
    isAnswered = true;
    wakeWriter?.();
    wakeReader?.();
  });
  /** Sends one frame; false when the plugin answered before it could be sent. */
  const send = async (message: SaveStreamArtifactRequest): Promise<boolean> => {
    while (inFlight >= MAX_FRAMES_IN_FLIGHT && !isAnswered) {
      await new Promise<void>((resolvePromise) => {
        wakeWriter = resolvePromise;
      });
      wakeWriter = undefined;
    }
    if (isAnswered) return false;
    inFlight++;
    stream.write(message, () => {
      inFlight--;
      wakeWriter?.();
    });
    return true;
  };
  const chunks = rechunk(call.source, call.chunkSize)[Symbol.asyncIterator]();
  /** The next chunk of the source, or "answered" as soon as the plugin answers. */
  const nextChunk = async (): Promise<IteratorResult<Buffer, void> | "answered"> => {
    if (isAnswered) return "answered";
    try {
      return await new Promise((resolvePromise, reject) => {
        wakeReader = () => resolvePromise("answered");
        chunks.next().then(resolvePromise, reject);
      });
    } finally {
      wakeReader = undefined;
    }
  };

  let sent = 0;
  let complete = false;
  try {
    if (await send(SaveStreamArtifactRequest.fromPartial({ outputArtifact: call.artifact }))) {
      complete = true;
      for (;;) {
        // An answer (an early error, or the cancellation an abort causes) must not wait
        // for a source that may never produce again (a terminal, a stalled pipe).
        const next = await nextChunk();
        if (next === "answered") {
          complete = false;
          break;
        }
        if (next.done) break;
        if (!(await send(SaveStreamArtifactRequest.fromPartial({ chunk: next.value })))) {
          complete = false;
          break;
        }
        sent += next.value.length;
      }
    }
  } catch (error) {
    stream.cancel();
    await answered;
    if (signal?.aborted) throw signal.reason;
    throw new ArtifactClientError(
      "SaveStream",
      "source",
      `reading the data to save failed after ${sent} bytes: ${errorText(error)}; the call was cancelled`,
      { key, cause: error },
    );
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!complete) {
      chunks.return?.().catch(() => {});
      if (isDestroyable(call.source)) call.source.destroy();
    }
  }
  if (complete) stream.end();
  const { error, response } = await answered;
  if (signal?.aborted) throw signal.reason;
  if (error) throw fromGrpcError("SaveStream", key, error);
  if (!response) {
    throw new ArtifactClientError("SaveStream", "protocol", "the plugin sent no response", {
      key,
    });
  }
  checkOutcome("SaveStream", key, response.success, response.error);
  if (!complete) {
    throw new ArtifactClientError(
      "SaveStream",
      "protocol",
      `the plugin answered success after ${sent} bytes, before the client finished sending`,
      { key },
    );
  }
  return sent;
}

function isDestroyable(value: unknown): value is { destroy(): void } {
  return typeof (value as { destroy?: unknown }).destroy === "function";
}
