import { once } from "node:events";
import { isAbsolute, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type LoadArtifactRequest,
  OpenStreamResponse,
  SaveArtifactResponse,
  type SaveStreamArtifactRequest,
} from "@argo-artifact-drivers/core/proto";
import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ArtifactClient, ArtifactClientError } from "../src/index.js";
import { MiB, removeDir, startFakePlugin, tempDir } from "./helpers.js";

// The reference plugin never misbehaves; these wire behaviours come from a
// hand-written plugin on a real socket in this process.

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function failure(call: Promise<unknown>): Promise<ArtifactClientError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ArtifactClientError) return error;
    throw error;
  }
  throw new Error("the call should have failed");
}

describe("wire behaviours", () => {
  let dir: string;
  let socket: string;
  let fake: { stop(): Promise<void> } | undefined;
  let client: ArtifactClient;

  beforeEach(async () => {
    dir = await tempDir();
    socket = join(dir, "fake.sock");
    client = new ArtifactClient(socket, { pluginName: "fake", configuration: "bucket: b" });
  });

  afterEach(async () => {
    client.close();
    await fake?.stop();
    fake = undefined;
    await removeDir(dir);
  });

  test("an error frame after data fails the stream with the plugin's message", async () => {
    fake = await startFakePlugin(socket, {
      openStream(call) {
        call.write(OpenStreamResponse.fromPartial({ data: Buffer.alloc(MiB, 1) }));
        call.write(OpenStreamResponse.fromPartial({ error: "backend exploded at byte 1048576" }));
        call.end();
      },
    });
    let received = 0;
    const error = await failure(
      (async () => {
        for await (const data of client.openStream("k")) received += data.length;
      })(),
    );
    expect(received).toBe(MiB);
    expect(error.kind).toBe("plugin");
    expect(error.message).toBe("backend exploded at byte 1048576");
  });

  test("an is_end frame ends the object, as Argo reads it", async () => {
    fake = await startFakePlugin(socket, {
      openStream(call) {
        call.write(OpenStreamResponse.fromPartial({ data: Buffer.from("abc") }));
        call.write(OpenStreamResponse.fromPartial({ data: Buffer.from("def"), isEnd: true }));
        call.write(OpenStreamResponse.fromPartial({ data: Buffer.from("NOT PART OF IT") }));
        call.end();
      },
    });
    expect((await collect(client.openStream("k"))).toString()).toBe("abcdef");
  });

  test("a gRPC status is reported with its code and details", async () => {
    fake = await startFakePlugin(socket, {
      load(_call, callback) {
        callback({ code: status.PERMISSION_DENIED, details: 'key "k" in bucket b: access denied' });
      },
    });
    const error = await failure(client.load("k", join(dir, "out")));
    expect(error.kind).toBe("status");
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.codeName).toBe("PERMISSION_DENIED");
    expect(error.message).toBe('key "k" in bucket b: access denied');
  });

  test("success=false without a message is still a failure", async () => {
    fake = await startFakePlugin(socket, {
      save(_call, callback) {
        callback(null, SaveArtifactResponse.fromPartial({ success: false }));
      },
    });
    const error = await failure(client.save("k", join(dir, "in")));
    expect(error.kind).toBe("plugin");
    expect(error.message).toMatch(/success=false/);
  });

  test("a plugin without GetCapabilities reads as no SaveStream", async () => {
    fake = await startFakePlugin(socket, {});
    expect(await client.capabilities()).toEqual({ supportsSaveStream: false });
  });

  test("a frame larger than Argo's 4 MiB limit is refused, as Argo would", async () => {
    fake = await startFakePlugin(socket, {
      openStream(call) {
        call.write(OpenStreamResponse.fromPartial({ data: Buffer.alloc(5 * MiB) }));
        call.end();
      },
    });
    const error = await failure(collect(client.openStream("k")));
    expect(error.kind).toBe("status");
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  test("requests carry the plugin name, configuration, key and absolute paths", async () => {
    const seen: LoadArtifactRequest[] = [];
    fake = await startFakePlugin(socket, {
      load(call, callback) {
        seen.push(call.request);
        callback(null, { success: true, error: "" });
      },
    });
    await client.load("wf/pod/out.tgz", "relative/out.tgz");
    const request = seen[0];
    expect(request?.path).toBe(resolve("relative/out.tgz"));
    expect(isAbsolute(request?.path ?? "")).toBe(true);
    expect(request?.inputArtifact?.plugin).toEqual({
      name: "fake",
      configuration: "bucket: b",
      key: "wf/pod/out.tgz",
      connectionTimeoutSeconds: 5,
    });
  });

  test("SaveStream sends the artifact first, then 2 MiB chunks", async () => {
    const frames: SaveStreamArtifactRequest[] = [];
    fake = await startFakePlugin(socket, {
      saveStream(call, callback) {
        call.on("data", (frame: SaveStreamArtifactRequest) => frames.push(frame));
        call.on("end", () => callback(null, { success: true, error: "" }));
      },
    });
    async function* pieces() {
      for (let i = 0; i < 50; i++) yield Buffer.alloc(100_001, i);
    }
    expect(await client.saveStream("wf/upload.bin", pieces())).toBe(5_000_050);
    expect(frames[0]?.outputArtifact?.plugin?.key).toBe("wf/upload.bin");
    expect(frames[0]?.chunk.length).toBe(0);
    expect(frames.slice(1).map((frame) => frame.chunk.length)).toEqual([
      2 * MiB,
      2 * MiB,
      5_000_050 - 4 * MiB,
    ]);
    expect(frames.slice(1).every((frame) => frame.outputArtifact === undefined)).toBe(true);
  });

  test("an early SaveStream error is reported without waiting for the source", async () => {
    fake = await startFakePlugin(socket, {
      saveStream(call, callback) {
        call.once("data", () =>
          callback(null, {
            success: false,
            error: 'invalid configuration: field "bucket" is required',
          }),
        );
      },
    });
    async function* stalls() {
      yield Buffer.alloc(10);
      await sleep(60_000);
    }
    const started = Date.now();
    const error = await failure(client.saveStream("k", stalls()));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error.message).toBe('invalid configuration: field "bucket" is required');
  });

  test("a SaveStream answered with success before the data ended is a protocol error", async () => {
    fake = await startFakePlugin(socket, {
      saveStream(call, callback) {
        call.once("data", () => callback(null, { success: true, error: "" }));
      },
    });
    async function* slow() {
      for (let i = 0; i < 20; i++) {
        await sleep(20);
        yield Buffer.alloc(MiB);
      }
    }
    const error = await failure(client.saveStream("k", slow()));
    expect(error.kind).toBe("protocol");
    expect(error.message).toMatch(/before the client finished sending/);
  });

  test("a failing source cancels the SaveStream instead of ending it", async () => {
    const events: string[] = [];
    let chunks = 0;
    fake = await startFakePlugin(socket, {
      saveStream(call, callback) {
        call.on("data", (frame: SaveStreamArtifactRequest) => {
          if (frame.chunk.length > 0) chunks++;
        });
        call.on("cancelled", () => events.push("cancelled"));
        // Node's http2 sends END_STREAM just before the RST_STREAM of a cancel, so the
        // plugin may see an end first; only a cancel that never follows means the client
        // declared the data complete.
        call.on("end", () => {
          setTimeout(() => {
            if (call.cancelled) return;
            events.push("completed");
            callback(null, { success: true, error: "" });
          }, 100);
        });
      },
    });
    async function* failing() {
      yield Buffer.alloc(3 * MiB);
      await sleep(100);
      throw new Error("disk on fire");
    }
    const error = await failure(client.saveStream("k", failing()));
    expect(error.kind).toBe("source");
    await sleep(300);
    expect(chunks).toBeGreaterThan(0);
    expect(events).toEqual(["cancelled"]);
  });

  test("a call that outlives its timeout fails with DEADLINE_EXCEEDED", async () => {
    fake = await startFakePlugin(socket, { load() {} });
    const impatient = new ArtifactClient(socket, {
      pluginName: "fake",
      configuration: "",
      callTimeoutMs: 300,
    });
    try {
      const error = await failure(impatient.load("k", join(dir, "never")));
      expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      impatient.close();
    }
  });

  test("openStream reads no faster than its consumer (backpressure)", async () => {
    const total = 256;
    let produced = 0;
    let cancelled = false;
    fake = await startFakePlugin(socket, {
      async openStream(call) {
        call.on("cancelled", () => {
          cancelled = true;
        });
        const frame = OpenStreamResponse.fromPartial({ data: Buffer.alloc(MiB, 7) });
        while (produced < total && !cancelled) {
          produced++;
          if (!call.write(frame))
            await Promise.race([once(call, "drain"), once(call, "cancelled")]);
        }
        if (!cancelled) call.end();
      },
    });
    let consumed = 0;
    let leadAtEnd = 0;
    for await (const _ of client.openStream("k")) {
      consumed++;
      await sleep(30);
      if (consumed === 15) {
        leadAtEnd = produced - consumed;
        break;
      }
    }
    // Without backpressure the plugin would have pushed all 256 frames by now.
    expect(leadAtEnd).toBeLessThan(80);
    await sleep(200);
    expect(cancelled).toBe(true);
  });
});
