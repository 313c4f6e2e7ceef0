import { ArtifactServiceService, OpenStreamResponse } from "./generated/artifact.js";

/**
 * The generated service definition, with a faster encoder for OpenStream's
 * data frames: the generic protobuf writer grows its buffer by doubling and
 * copies a 1 MiB frame several times, which halved throughput and fed the
 * garbage collector. A data frame is one length-delimited field, so it is
 * written directly with a single copy; other frames use the generated code.
 */
export const ArtifactServiceDefinition = {
  ...ArtifactServiceService,
  openStream: {
    ...ArtifactServiceService.openStream,
    responseSerialize: encodeOpenStreamResponse,
  },
} as const;

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
