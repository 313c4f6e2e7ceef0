import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Artifact,
  type ArtifactServiceClient,
  DeleteArtifactRequest,
  type DeleteArtifactResponse,
  GetCapabilitiesRequest,
  type GetCapabilitiesResponse,
  IsDirectoryRequest,
  type IsDirectoryResponse,
  ListObjectsRequest,
  type ListObjectsResponse,
  LoadArtifactRequest,
  type LoadArtifactResponse,
  OpenStreamRequest,
  type OpenStreamResponse,
  SaveArtifactRequest,
  type SaveArtifactResponse,
  SaveStreamArtifactRequest,
} from "@argo-artifact-drivers/core/proto";
import { FastArtifactServiceClient } from "@argo-artifact-drivers/core/wire";
import {
  type CallOptions,
  type ClientOptions,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";

/** The RPCs of the ArtifactService, as named in messages. */
export type Operation =
  | "Load"
  | "Save"
  | "Delete"
  | "ListObjects"
  | "IsDirectory"
  | "OpenStream"
  | "SaveStream"
  | "GetCapabilities";

/**
 * Why a call failed:
 * - `plugin`: the plugin answered with an `error` field or `success=false`;
 * - `status`: the call ended with a gRPC error status (the plugin's or the transport's);
 * - `unavailable`: nothing accepted a connection on the socket in time;
 * - `protocol`: the plugin broke the wire contract (e.g. data after `is_end`);
 * - `source`: the local data given to `saveStream` failed.
 */
export type FailureKind = "plugin" | "status" | "unavailable" | "protocol" | "source";

/** Every failure of an ArtifactClient call; `message` is the plugin's own text where it sent one. */
export class ArtifactClientError extends Error {
  override readonly name = "ArtifactClientError";

  constructor(
    readonly operation: Operation,
    readonly kind: FailureKind,
    message: string,
    options: {
      key?: string;
      /** The gRPC status code, when the call ended with one. */
      code?: status;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.key = options.key;
    this.code = options.code;
  }

  readonly key: string | undefined;
  readonly code: status | undefined;

  /** The status code's name (`NOT_FOUND`, ...), when the call ended with one. */
  get codeName(): string | undefined {
    return this.code === undefined ? undefined : status[this.code];
  }
}

export interface ArtifactClientOptions {
  /** `artifact.plugin.name` in every request: the name the plugin is registered under in Argo. */
  pluginName: string;
  /** `artifact.plugin.configuration` in every request (YAML or JSON, as the plugin expects). */
  configuration: string;
  /**
   * How long to wait for the socket to appear and the connection to be ready
   * before the first call, like Argo's `connectionTimeoutSeconds`. Default 5000.
   */
  readyTimeoutMs?: number;
  /** Deadline of each call; none by default (large artifacts take as long as they take). */
  callTimeoutMs?: number;
  /** Size of the `chunk` of each SaveStream frame. Default 2 MiB, as Argo sends. */
  chunkSize?: number;
  /**
   * Largest response message accepted. Default 4 MiB, the limit of Argo's Go
   * client, so a plugin sending frames Argo would refuse fails here too.
   */
  maxReceiveMessageBytes?: number;
}

/** Bytes to store: a Node Readable, an async generator, or a plain array of buffers. */
export type ByteSource =
  | AsyncIterable<Buffer | Uint8Array | string>
  | Iterable<Buffer | Uint8Array | string>;

export interface CallControl {
  /** Aborting cancels the call. */
  signal?: AbortSignal;
}

/** Argo sends SaveStream chunks of 2 MiB. */
export const DEFAULT_CHUNK_SIZE = 2 * 1024 * 1024;
/** grpc-go's default, which Argo's plugin client keeps. */
export const ARGO_MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_READY_TIMEOUT_MS = 5000;
/** A large HTTP/2 window lets the server keep a 1–2 MiB frame in flight while the previous one is consumed. */
const FLOW_CONTROL_WINDOW = 8 * 1024 * 1024;
const SOCKET_POLL_MS = 50;
/** SaveStream frames handed to grpc-js before the earlier ones reach the socket. */
const MAX_FRAMES_IN_FLIGHT = 2;

/**
 * A client of one artifact driver plugin, speaking Argo's ArtifactService over
 * its Unix socket the way Argo does. Every call carries the same plugin name
 * and configuration; the key varies per call. The first call waits for the
 * socket and the connection to be ready (see `readyTimeoutMs`).
 */
export class ArtifactClient {
  readonly socketPath: string;
  private readonly options: Required<Omit<ArtifactClientOptions, "callTimeoutMs">> & {
    callTimeoutMs: number | undefined;
  };
  private readonly grpc: ArtifactServiceClient;
  private readyPromise: Promise<void> | undefined;

  constructor(socketPath: string, options: ArtifactClientOptions) {
    this.socketPath = resolve(socketPath);
    this.options = {
      pluginName: options.pluginName,
      configuration: options.configuration,
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      callTimeoutMs: options.callTimeoutMs,
      chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? ARGO_MAX_RECEIVE_MESSAGE_BYTES,
    };
    if (!Number.isInteger(this.options.chunkSize) || this.options.chunkSize < 1) {
      throw new RangeError(`chunkSize must be a positive integer, got ${this.options.chunkSize}`);
    }
    const channelOptions: Partial<ClientOptions> = {
      "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW,
      "grpc.max_receive_message_length": this.options.maxReceiveMessageBytes,
      "grpc.max_send_message_length": -1,
    };
    this.grpc = new FastArtifactServiceClient(
      `unix:${this.socketPath}`,
      credentials.createInsecure(),
      channelOptions,
    );
  }

  /** Makes `path` (absolute or relative to this process) hold the artifact at `key`: a file or a directory tree. */
  async load(key: string, path: string, control: CallControl = {}): Promise<void> {
    const absolute = resolve(path);
    const request = LoadArtifactRequest.fromPartial({
      inputArtifact: this.artifact(key, absolute),
      path: absolute,
    });
    const response = await this.unary<LoadArtifactResponse>(
      "Load",
      key,
      control,
      (options, callback) => this.grpc.load(request, new Metadata(), options, callback),
    );
    this.checkOutcome("Load", key, response.success, response.error);
  }

  /** Uploads the file or directory tree at `path` (absolute or relative to this process) to `key`. */
  async save(key: string, path: string, control: CallControl = {}): Promise<void> {
    const absolute = resolve(path);
    const request = SaveArtifactRequest.fromPartial({
      path: absolute,
      outputArtifact: this.artifact(key, absolute),
    });
    const response = await this.unary<SaveArtifactResponse>(
      "Save",
      key,
      control,
      (options, callback) => this.grpc.save(request, new Metadata(), options, callback),
    );
    this.checkOutcome("Save", key, response.success, response.error);
  }

  /** Removes the object at `key`, or every object under it. */
  async delete(key: string, control: CallControl = {}): Promise<void> {
    const request = DeleteArtifactRequest.fromPartial({ artifact: this.artifact(key) });
    const response = await this.unary<DeleteArtifactResponse>(
      "Delete",
      key,
      control,
      (options, callback) => this.grpc.delete(request, new Metadata(), options, callback),
    );
    this.checkOutcome("Delete", key, response.success, response.error);
  }

  /** Every object under the directory `key`, as full keys (`key/a.txt`), in the plugin's order. */
  async list(key: string, control: CallControl = {}): Promise<string[]> {
    const request = ListObjectsRequest.fromPartial({ artifact: this.artifact(key) });
    const response = await this.unary<ListObjectsResponse>(
      "ListObjects",
      key,
      control,
      (options, callback) => this.grpc.listObjects(request, new Metadata(), options, callback),
    );
    if (response.error !== "") {
      throw new ArtifactClientError("ListObjects", "plugin", response.error, { key });
    }
    return response.objects;
  }

  /** True when objects exist under `key/`. */
  async isDirectory(key: string, control: CallControl = {}): Promise<boolean> {
    const request = IsDirectoryRequest.fromPartial({ artifact: this.artifact(key) });
    const response = await this.unary<IsDirectoryResponse>(
      "IsDirectory",
      key,
      control,
      (options, callback) => this.grpc.isDirectory(request, new Metadata(), options, callback),
    );
    if (response.error !== "") {
      throw new ArtifactClientError("IsDirectory", "plugin", response.error, { key });
    }
    return response.isDirectory;
  }

  /** What the plugin supports. An UNIMPLEMENTED status (a v4.0 plugin) reads as no SaveStream, as Argo reads it. */
  async capabilities(control: CallControl = {}): Promise<{ supportsSaveStream: boolean }> {
    try {
      const response = await this.unary<GetCapabilitiesResponse>(
        "GetCapabilities",
        undefined,
        control,
        (options, callback) =>
          this.grpc.getCapabilities(
            GetCapabilitiesRequest.fromPartial({}),
            new Metadata(),
            options,
            callback,
          ),
      );
      return { supportsSaveStream: response.supportsSaveStream };
    } catch (error) {
      if (error instanceof ArtifactClientError && error.code === status.UNIMPLEMENTED) {
        return { supportsSaveStream: false };
      }
      throw error;
    }
  }

  /**
   * The object's bytes, frame by frame. Frames are read only as fast as the
   * caller consumes them, so memory stays bounded whatever the object's size.
   * Throws on an `error` frame or an error status; stops at an `is_end` frame
   * as Argo does. Breaking out of the loop cancels the call.
   */
  async *openStream(
    key: string,
    control: CallControl = {},
  ): AsyncGenerator<Buffer, void, undefined> {
    await this.ready("OpenStream", key);
    control.signal?.throwIfAborted();
    const request = OpenStreamRequest.fromPartial({ artifact: this.artifact(key) });
    const call = this.grpc.openStream(request, new Metadata(), this.callOptions());
    const onAbort = () => call.cancel();
    control.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const frame of call as AsyncIterable<OpenStreamResponse>) {
        if (frame.error !== "") {
          throw new ArtifactClientError("OpenStream", "plugin", frame.error, { key });
        }
        if (frame.data.length > 0) yield frame.data;
        if (frame.isEnd) break;
      }
    } catch (error) {
      if (control.signal?.aborted) throw control.signal.reason;
      throw this.translate("OpenStream", key, error);
    } finally {
      control.signal?.removeEventListener("abort", onAbort);
      // After is_end, an early break or an error the server may still be sending: stop
      // it. A no-op when the call has already ended.
      call.cancel();
    }
  }

  /**
   * Stores the bytes of `source` as the object at `key` with SaveStream: a
   * first frame with the artifact, then frames of `chunkSize` bytes. At most
   * two frames are handed to the transport ahead of the socket, so memory
   * stays bounded. If `source` fails, the call is cancelled (the plugin must
   * then store nothing) and the error is thrown as kind `source`. Resolves to
   * the number of bytes sent.
   */
  async saveStream(key: string, source: ByteSource, control: CallControl = {}): Promise<number> {
    await this.ready("SaveStream", key);
    control.signal?.throwIfAborted();
    type Answer = { error: ServiceError | null; response: SaveArtifactResponse | undefined };
    let settle: (answer: Answer) => void = () => {};
    const answered = new Promise<Answer>((resolvePromise) => {
      settle = resolvePromise;
    });
    const call = this.grpc.saveStream(new Metadata(), this.callOptions(), (error, response) =>
      settle({ error, response }),
    );
    // Writing after the plugin has answered errors on the stream; the answer tells the real story.
    call.on("error", () => {});
    const onAbort = () => call.cancel();
    control.signal?.addEventListener("abort", onAbort, { once: true });

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
      call.write(message, () => {
        inFlight--;
        wakeWriter?.();
      });
      return true;
    };
    const chunks = rechunk(source, this.options.chunkSize)[Symbol.asyncIterator]();
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
      if (
        await send(SaveStreamArtifactRequest.fromPartial({ outputArtifact: this.artifact(key) }))
      ) {
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
      call.cancel();
      await answered;
      if (control.signal?.aborted) throw control.signal.reason;
      throw new ArtifactClientError(
        "SaveStream",
        "source",
        `reading the data to save failed after ${sent} bytes: ${errorText(error)}; the call was cancelled`,
        { key, cause: error },
      );
    } finally {
      control.signal?.removeEventListener("abort", onAbort);
      if (!complete) {
        chunks.return?.().catch(() => {});
        if (isDestroyable(source)) source.destroy();
      }
    }
    if (complete) call.end();
    const { error, response } = await answered;
    if (control.signal?.aborted) throw control.signal.reason;
    if (error) throw this.translate("SaveStream", key, error);
    if (!response) {
      throw new ArtifactClientError("SaveStream", "protocol", "the plugin sent no response", {
        key,
      });
    }
    this.checkOutcome("SaveStream", key, response.success, response.error);
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

  /** `saveStream` of a local file, read in `chunkSize` pieces. */
  async saveFileStream(key: string, path: string, control: CallControl = {}): Promise<number> {
    const file = createReadStream(path, { highWaterMark: this.options.chunkSize });
    try {
      return await this.saveStream(key, file, control);
    } finally {
      file.destroy();
    }
  }

  /** Closes the connection. Calls in flight are cancelled. */
  close(): void {
    this.grpc.close();
  }

  /**
   * Waits (once per client) for the socket file to exist and the channel to
   * connect, within `readyTimeoutMs`, as Argo does before its first call.
   */
  ready(operation: Operation = "GetCapabilities", key?: string): Promise<void> {
    this.readyPromise ??= this.waitForReady(operation, key);
    const promise = this.readyPromise;
    // A failed wait may be retried by a later call.
    promise.catch(() => {
      if (this.readyPromise === promise) this.readyPromise = undefined;
    });
    return promise;
  }

  private async waitForReady(operation: Operation, key: string | undefined): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const waited = `${formatSeconds(timeoutMs)}`;
    for (;;) {
      const info = await stat(this.socketPath).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
        throw new ArtifactClientError(
          operation,
          "unavailable",
          `cannot use socket ${this.socketPath}: ${errorText(error)}`,
          { key, cause: error },
        );
      });
      if (info?.isSocket()) break;
      if (info) {
        throw new ArtifactClientError(
          operation,
          "unavailable",
          `${this.socketPath} exists but is not a Unix socket; pass the socket path the plugin was started with`,
          { key },
        );
      }
      if (Date.now() >= deadline) {
        throw new ArtifactClientError(
          operation,
          "unavailable",
          `no plugin socket at ${this.socketPath} after waiting ${waited}: start the plugin with this socket path as its argument, or pass the right --socket`,
          { key },
        );
      }
      await sleep(SOCKET_POLL_MS);
    }
    await new Promise<void>((resolvePromise, reject) => {
      this.grpc.waitForReady(Math.max(deadline, Date.now() + 100), (error) => {
        if (!error) return resolvePromise();
        reject(
          new ArtifactClientError(
            operation,
            "unavailable",
            `nothing accepted a connection on socket ${this.socketPath} within ${waited}: the socket file exists but no plugin is listening (a stale socket of a stopped plugin?)`,
            { key, cause: error },
          ),
        );
      });
    });
  }

  private artifact(key: string, path = ""): Artifact {
    return Artifact.fromPartial({
      name: basename(key) || "artifact",
      path,
      plugin: {
        name: this.options.pluginName,
        configuration: this.options.configuration,
        connectionTimeoutSeconds: Math.ceil(this.options.readyTimeoutMs / 1000),
        key,
      },
    });
  }

  private callOptions(): Partial<CallOptions> {
    const timeout = this.options.callTimeoutMs;
    return timeout === undefined ? {} : { deadline: Date.now() + timeout };
  }

  private async unary<Response>(
    operation: Operation,
    key: string | undefined,
    control: CallControl,
    start: (
      options: Partial<CallOptions>,
      callback: (error: ServiceError | null, response: Response) => void,
    ) => { cancel(): void },
  ): Promise<Response> {
    await this.ready(operation, key);
    control.signal?.throwIfAborted();
    return new Promise<Response>((resolvePromise, reject) => {
      const onAbort = () => call.cancel();
      const call = start(this.callOptions(), (error, response) => {
        control.signal?.removeEventListener("abort", onAbort);
        if (control.signal?.aborted) reject(control.signal.reason);
        else if (error) reject(this.translate(operation, key, error));
        else resolvePromise(response);
      });
      control.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private checkOutcome(operation: Operation, key: string, success: boolean, error: string): void {
    if (error !== "") throw new ArtifactClientError(operation, "plugin", error, { key });
    if (!success) {
      throw new ArtifactClientError(
        operation,
        "plugin",
        "the plugin answered success=false without an error message",
        { key },
      );
    }
  }

  private translate(operation: Operation, key: string | undefined, error: unknown): Error {
    if (error instanceof ArtifactClientError) return error;
    if (isServiceError(error)) {
      const details = error.details || status[error.code] || "no details";
      return new ArtifactClientError(operation, "status", details, {
        key,
        code: error.code,
        cause: error,
      });
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}

function isDestroyable(value: unknown): value is { destroy(): void } {
  return typeof (value as { destroy?: unknown }).destroy === "function";
}

function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === "number" &&
    "details" in error &&
    "metadata" in error
  );
}

/** Regroups any stream of bytes into pieces of exactly `size` bytes (the last one shorter). */
export async function* rechunk(
  source: ByteSource,
  size: number,
): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    let buffer =
      typeof piece === "string"
        ? Buffer.from(piece)
        : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (buffer.length > 0) {
      if (pendingBytes === 0 && buffer.length >= size) {
        yield buffer.subarray(0, size);
        buffer = buffer.subarray(size);
        continue;
      }
      const take = Math.min(size - pendingBytes, buffer.length);
      pending.push(buffer.subarray(0, take));
      pendingBytes += take;
      buffer = buffer.subarray(take);
      if (pendingBytes === size) {
        yield Buffer.concat(pending, size);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
