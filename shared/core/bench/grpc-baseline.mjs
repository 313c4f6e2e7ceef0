#!/usr/bin/env node
// The ceiling of this machine for OpenStream-like traffic: bare grpc-js
// server streaming between two processes over a Unix socket, with no
// protobuf, no file and no plugin code (2 MiB messages, two in flight, an
// 8 MiB client window, as the core does). Compare the plugin's OpenStream
// (drivers/local/bench/throughput.mjs) with this number, not with another machine's.
//   node shared/core/bench/grpc-baseline.mjs
import { fork } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";

const MiB = 1024 * 1024;
const totalMiB = Number(process.env.BENCH_FILE_MIB ?? 1024);
const frame = 2 * MiB;
const socket = join(tmpdir(), "grpc-baseline.sock");
const identity = (x) => x;
const definition = {
  stream: {
    path: "/baseline.Baseline/Stream",
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

if (process.argv[2] === "server") {
  const server = new grpc.Server();
  const data = Buffer.alloc(frame, 1);
  server.addService(definition, {
    stream: async (call) => {
      let inFlight = 0;
      let wake;
      for (let sent = 0; sent < totalMiB * MiB; sent += frame) {
        while (inFlight >= 2) await new Promise((resolve) => (wake = resolve));
        inFlight++;
        call.write(Buffer.from(data), () => {
          inFlight--;
          wake?.();
        });
      }
      call.end();
    },
  });
  rmSync(socket, { force: true });
  await new Promise((resolve) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), resolve),
  );
  process.send("ready");
} else {
  const child = fork(import.meta.filename, ["server"]);
  await new Promise((resolve) => child.once("message", resolve));
  const Client = grpc.makeGenericClientConstructor(definition);
  const client = new Client(`unix:${socket}`, grpc.credentials.createInsecure(), {
    "grpc-node.flow_control_window": 8 * MiB,
    "grpc.max_receive_message_length": 8 * MiB,
  });
  const started = performance.now();
  let bytes = 0;
  for await (const message of client.stream(Buffer.alloc(0))) bytes += message.length;
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `bare grpc-js server streaming, ${totalMiB} MiB in 2 MiB messages between two processes: ${(bytes / 1e6 / seconds).toFixed(0)} MB/s`,
  );
  client.close();
  child.kill();
}
