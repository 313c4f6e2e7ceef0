import { createHash } from "node:crypto";
import { once } from "node:events";
import { connect as http2Connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { OpenStreamRequest, OpenStreamResponse } from "@argo-artifact-drivers/core/proto";

export interface PausedStream {
  /** Bytes received before the pause. */
  readonly receivedBeforePause: number;
  /** Reads the rest; the content's SHA-256, the error frame if any, and the gRPC status. */
  finish(): Promise<{ sha256: string; bytes: number; error: string; status: string }>;
}

/**
 * An OpenStream read by a client that stops reading after the first bytes:
 * plain HTTP/2 with a 64 KiB window, so the server cannot finish the call
 * (and say so in its log) until the client reads on. gRPC clients buffer
 * whole frames ahead and would let a small artifact's call end unseen.
 */
export async function pausedOpenStream(
  socketPath: string,
  configuration: string,
  key: string,
): Promise<PausedStream> {
  const session = http2Connect("http://localhost", {
    createConnection: () => netConnect(socketPath),
    settings: { initialWindowSize: 65_535 },
  });
  session.on("error", () => undefined);
  const request = OpenStreamRequest.encode(
    OpenStreamRequest.fromPartial({
      artifact: { name: "conformance", plugin: { name: "conformance", key, configuration } },
    }),
  ).finish();
  const framed = Buffer.alloc(5 + request.length);
  framed.writeUInt32BE(request.length, 1);
  framed.set(request, 5);
  const stream = session.request({
    ":method": "POST",
    ":path": "/artifact.ArtifactService/OpenStream",
    "content-type": "application/grpc",
    te: "trailers",
  });
  let status = "";
  stream.on("trailers", (trailers) => {
    status = String(trailers["grpc-status"] ?? "");
  });
  stream.end(framed);
  const chunks: Buffer[] = [];
  const [first] = (await once(stream, "data")) as [Buffer];
  stream.pause();
  chunks.push(first);
  return {
    receivedBeforePause: first.length,
    async finish() {
      try {
        for await (const chunk of stream) chunks.push(chunk as Buffer);
      } finally {
        session.close();
      }
      const all = Buffer.concat(chunks);
      const hash = createHash("sha256");
      let bytes = 0;
      let error = "";
      for (let offset = 0; offset + 5 <= all.length; ) {
        const length = all.readUInt32BE(offset + 1);
        const frame = OpenStreamResponse.decode(all.subarray(offset + 5, offset + 5 + length));
        offset += 5 + length;
        if (frame.error) error = frame.error;
        hash.update(frame.data);
        bytes += frame.data.length;
      }
      return { sha256: hash.digest("hex"), bytes, error, status };
    },
  };
}
