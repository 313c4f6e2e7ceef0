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

export function encodeOpenStreamResponse(message: OpenStreamResponse): Buffer {
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
