import { createReadStream } from "node:fs";
import { basename, resolve } from "node:path";
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
import { ArtifactClientError, checkOutcome, fromGrpcError, type Operation } from "./errors.js";
import { waitForPlugin } from "./ready.js";
import type { ByteSource } from "./rechunk.js";
import { saveStream } from "./save-stream.js";

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
/** How long a stream that sent `is_end` may take to send the call's status. */
const STATUS_AFTER_END_MS = 2_000;

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
    checkOutcome("Load", key, response.success, response.error);
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
    checkOutcome("Save", key, response.success, response.error);
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
    checkOutcome("Delete", key, response.success, response.error);
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
   *
   * After `is_end` the call's status follows at once: waiting for it, instead
   * of cancelling a stream the server is closing, keeps one RST_STREAM per
   * download off the connection (Node's HTTP/2 server closes a connection
   * that resets streams faster than its rapid-reset limit allows).
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
    let complete = false;
    let statusWait: NodeJS.Timeout | undefined;
    try {
      for await (const frame of call as AsyncIterable<OpenStreamResponse>) {
        // Anything after is_end is not part of the object.
        if (complete) break;
        if (frame.error !== "") {
          throw new ArtifactClientError("OpenStream", "plugin", frame.error, { key });
        }
        if (frame.data.length > 0) yield frame.data;
        if (frame.isEnd) {
          complete = true;
          // A server that never sends the status is cut off.
          statusWait = setTimeout(() => call.cancel(), STATUS_AFTER_END_MS);
        }
      }
    } catch (error) {
      // The object arrived whole; how the call then ended does not change it.
      if (complete && !control.signal?.aborted) return;
      if (control.signal?.aborted) throw control.signal.reason;
      throw fromGrpcError("OpenStream", key, error);
    } finally {
      clearTimeout(statusWait);
      control.signal?.removeEventListener("abort", onAbort);
      // An early break or an error the server may still be sending: stop it.
      // A no-op when the call has already ended.
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
    return saveStream({
      grpc: this.grpc,
      key,
      artifact: this.artifact(key),
      source,
      chunkSize: this.options.chunkSize,
      callOptions: this.callOptions(),
      signal: control.signal,
    });
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
    this.readyPromise ??= waitForPlugin(
      this.socketPath,
      this.grpc,
      this.options.readyTimeoutMs,
      operation,
      key,
    );
    const promise = this.readyPromise;
    // A failed wait may be retried by a later call.
    promise.catch(() => {
      if (this.readyPromise === promise) this.readyPromise = undefined;
    });
    return promise;
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
        else if (error) reject(fromGrpcError(operation, key, error));
        else resolvePromise(response);
      });
      control.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
