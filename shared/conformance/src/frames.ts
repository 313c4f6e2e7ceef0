import { createHash } from "node:crypto";
import { OpenStreamRequest, type OpenStreamResponse } from "@argo-artifact-drivers/core/proto";
import { FastArtifactServiceClient } from "@argo-artifact-drivers/core/wire";
import { credentials } from "@grpc/grpc-js";

export interface StreamedFrames {
  dataFrames: number;
  maxFrameBytes: number;
  /** The smallest data frame but the last (which holds what is left); Infinity with one frame. */
  minFrameBytesButLast: number;
  bytes: number;
  sha256: string;
  error: string;
}

/**
 * OpenStream through a bare generated client, frame by frame, the way
 * argo-server reads it, so that frame sizes can be checked.
 */
export async function openStreamFrames(
  socketPath: string,
  configuration: string,
  key: string,
): Promise<StreamedFrames> {
  const client = new FastArtifactServiceClient(`unix:${socketPath}`, credentials.createInsecure(), {
    "grpc-node.flow_control_window": 8 * 1024 * 1024,
  });
  const hash = createHash("sha256");
  const result: StreamedFrames = {
    dataFrames: 0,
    maxFrameBytes: 0,
    minFrameBytesButLast: Number.POSITIVE_INFINITY,
    bytes: 0,
    sha256: "",
    error: "",
  };
  let previous = 0;
  try {
    const call = client.openStream(
      OpenStreamRequest.fromPartial({
        artifact: { name: "conformance", plugin: { name: "conformance", key, configuration } },
      }),
    );
    for await (const frame of call as AsyncIterable<OpenStreamResponse>) {
      if (frame.error) {
        result.error = frame.error;
        break;
      }
      if (frame.data.length > 0) {
        if (previous > 0)
          result.minFrameBytesButLast = Math.min(result.minFrameBytesButLast, previous);
        previous = frame.data.length;
        result.dataFrames++;
        result.maxFrameBytes = Math.max(result.maxFrameBytes, frame.data.length);
        result.bytes += frame.data.length;
        hash.update(frame.data);
      }
      if (frame.isEnd) break;
    }
  } finally {
    client.close();
  }
  result.sha256 = hash.digest("hex");
  return result;
}
