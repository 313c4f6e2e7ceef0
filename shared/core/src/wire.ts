import type { FileHandle } from "node:fs/promises";
import { createRequire } from "node:module";
import {
  type ChannelCredentials,
  type ClientOptions,
  makeGenericClientConstructor,
} from "@grpc/grpc-js";
import {
  type ArtifactServiceClient,
  ArtifactServiceService,
  OpenStreamResponse,
} from "./generated/artifact.js";

/**
 * The generated service definition, with a faster codec for OpenStream's
 * data frames: the generic protobuf writer grows its buffer by doubling and
 * copies each frame several times, and the generic reader copies it again,
 * which halved throughput and fed the garbage collector. A data frame is one
 * length-delimited field, so it is written with a single copy and read
 * without one; other frames use the generated code.
 */
export const ArtifactServiceDefinition = {
  ...ArtifactServiceService,
  openStream: {
    ...ArtifactServiceService.openStream,
    responseSerialize: encodeOpenStreamResponse,
    responseDeserialize: decodeOpenStreamResponse,
  },
} as const;

/** A client of the service with that codec (same methods as the generated `ArtifactServiceClient`). */
export const FastArtifactServiceClient = makeGenericClientConstructor(
  ArtifactServiceDefinition,
  "artifact.ArtifactService",
) as unknown as new (
  address: string,
  credentials: ChannelCredentials,
  options?: Partial<ClientOptions>,
) => ArtifactServiceClient;

/** Field 1 (`data`), wire type 2 (length-delimited). */
const DATA_TAG = (1 << 3) | 2;

/** gRPC's message prefix: a compressed flag and a 4-byte big-endian length. */
const GRPC_PREFIX = 5;
/** Room before a frame's payload for gRPC's prefix, the protobuf tag and the longest varint length. */
const HEADER_ROOM = GRPC_PREFIX + 6;

/** A data frame being filled in place, with room for its headers in front. */
export class FrameBuffer {
  readonly bytes: Buffer;
  length = 0;

  constructor(readonly capacity: number) {
    this.bytes = Buffer.allocUnsafe(HEADER_ROOM + capacity);
  }

  /** Copies as much of `chunk` from `offset` as fits; returns how much. */
  fill(chunk: Buffer, offset: number): number {
    const copied = chunk.copy(this.bytes, HEADER_ROOM + this.length, offset);
    this.length += copied;
    return copied;
  }

  /** Writes the protobuf header (field 1, its length) before the payload; returns where the message starts. */
  protobufStart(): number {
    const length = this.length;
    let header = 1;
    for (let rest = length; rest >= 0x80; rest >>>= 7) header++;
    const start = HEADER_ROOM - header - 1;
    let offset = start;
    this.bytes[offset++] = DATA_TAG;
    let rest = length;
    while (rest >= 0x80) {
      this.bytes[offset++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.bytes[offset] = rest;
    return start;
  }

  /** The whole gRPC message (prefix, protobuf header, payload), without a copy. */
  grpcMessage(): Buffer {
    const start = this.protobufStart() - GRPC_PREFIX;
    this.bytes[start] = 0;
    this.bytes.writeUInt32BE(HEADER_ROOM + this.length - start - GRPC_PREFIX, start + 1);
    return this.bytes.subarray(start, HEADER_ROOM + this.length);
  }
}

/** Frame buffers to reuse, so a busy server does not allocate 2 MiB per frame. */
export class FramePool {
  private readonly idle: FrameBuffer[] = [];

  constructor(
    readonly capacity: number,
    private readonly maxIdle: number,
  ) {}

  take(): FrameBuffer {
    const buffer = this.idle.pop() ?? new FrameBuffer(this.capacity);
    buffer.length = 0;
    return buffer;
  }

  /** Only once gRPC is done with it (its write callback): the buffer may be what it sends. */
  put(buffer: FrameBuffer): void {
    if (this.idle.length < this.maxIdle && !this.idle.includes(buffer)) this.idle.push(buffer);
  }
}

const PREBUILT = Symbol("prebuilt frame");

interface PrebuiltResponse extends OpenStreamResponse {
  [PREBUILT]: FrameBuffer;
}

/** A data frame for `call.write` whose bytes are `buffer`, so its encoding needs no copy of the payload. */
export function frameView(buffer: FrameBuffer): OpenStreamResponse {
  const message: PrebuiltResponse = {
    data: buffer.bytes.subarray(HEADER_ROOM, HEADER_ROOM + buffer.length),
    isEnd: false,
    error: "",
    [PREBUILT]: buffer,
  };
  return message;
}

/**
 * grpc-js copies every encoded message into a new buffer with its 5-byte
 * prefix (BaseServerInterceptingCall.serializeMessage): 2 MiB of garbage per
 * frame, which under many concurrent streams the garbage collector frees too
 * late (RSS grew with the number of streams). A prebuilt frame already has
 * room for that prefix, so it goes out as it is. Reached through grpc-js's
 * internals; if an upgrade moves them, frames are copied as before.
 */
function sendFramesInPlace(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const internals = require("@grpc/grpc-js/build/src/server-interceptors.js") as {
      BaseServerInterceptingCall?: { prototype: { serializeMessage?: (value: unknown) => Buffer } };
    };
    const prototype = internals.BaseServerInterceptingCall?.prototype;
    const original = prototype?.serializeMessage;
    if (!prototype || typeof original !== "function") return false;
    prototype.serializeMessage = function (this: unknown, value: unknown): Buffer {
      const prebuilt = (value as Partial<PrebuiltResponse> | null)?.[PREBUILT];
      return prebuilt && prebuilt.length > 0 ? prebuilt.grpcMessage() : original.call(this, value);
    };
    return true;
  } catch {
    return false;
  }
}

/** Whether OpenStream frames reach gRPC without a copy (see sendFramesInPlace). */
export const FRAMES_IN_PLACE = sendFramesInPlace();

export function encodeOpenStreamResponse(message: OpenStreamResponse): Buffer {
  const prebuilt = (message as Partial<PrebuiltResponse>)[PREBUILT];
  if (prebuilt && prebuilt.length > 0) {
    return prebuilt.bytes.subarray(prebuilt.protobufStart(), HEADER_ROOM + prebuilt.length);
  }
  if (message.isEnd || message.error !== "" || message.data.length === 0) {
    return Buffer.from(OpenStreamResponse.encode(message).finish());
  }
  const length = message.data.length;
  let header = 1;
  for (let rest = length; rest >= 0x80; rest >>>= 7) header++;
  const frame = Buffer.allocUnsafe(1 + header + length);
  frame[0] = DATA_TAG;
  let offset = 1;
  let rest = length;
  while (rest >= 0x80) {
    frame[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  frame[offset++] = rest;
  message.data.copy(frame, offset);
  return frame;
}

/** Reads a frame that is exactly one `data` field without copying it; anything else goes to the generated decoder. */
export function decodeOpenStreamResponse(frame: Buffer): OpenStreamResponse {
  if (frame[0] === DATA_TAG) {
    let length = 0;
    let shift = 0;
    let offset = 1;
    for (; offset < frame.length && offset <= 5; offset++) {
      const byte = frame[offset] as number;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (byte < 0x80) {
        offset++;
        if (offset + length === frame.length) {
          return { data: frame.subarray(offset), isEnd: false, error: "" };
        }
        break;
      }
    }
  }
  return OpenStreamResponse.decode(frame);
}

/** Bytes gathered before one write to a file: a few large writes instead of one per HTTP chunk. */
export const FILE_WRITE_BYTES = 4 * 1024 * 1024;

/**
 * Writes `source` into the open `file` in batches of about FILE_WRITE_BYTES,
 * each one writev of the chunks as they came (no copy), while the next batch
 * is being read.
 */
export async function writeCoalesced(
  source: AsyncIterable<Buffer>,
  file: FileHandle,
  signal: AbortSignal,
): Promise<number> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let total = 0;
  let writing: Promise<void> = Promise.resolve();
  const write = async (buffers: Buffer[], bytes: number) => {
    const { bytesWritten } = await file.writev(buffers);
    if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes`);
  };
  try {
    for await (const chunk of source) {
      batch.push(chunk);
      batchBytes += chunk.length;
      total += chunk.length;
      if (batchBytes >= FILE_WRITE_BYTES) {
        await writing;
        signal.throwIfAborted();
        writing = write(batch, batchBytes);
        // Handled here too, so a failure while the next batch is read is not an unhandled rejection.
        writing.catch(() => undefined);
        batch = [];
        batchBytes = 0;
      }
    }
    await writing;
    if (batchBytes > 0) await write(batch, batchBytes);
    return total;
  } finally {
    // A failed read leaves a write in flight: it finishes before the caller removes the file.
    await writing.catch(() => undefined);
  }
}
