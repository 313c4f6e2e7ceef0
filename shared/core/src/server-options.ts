import type { Http2Session } from "node:http2";
import type { Server } from "@grpc/grpc-js";
import type { Logger } from "./log.js";

/**
 * A connection without calls for this long is closed (GOAWAY; a client that
 * calls again reconnects, in about a millisecond on the Unix socket).
 * argo-server opens a new connection for each artifact request and never
 * closes it, so without this every UI download would hold about 35 KB and a
 * file descriptor of the sidecar until grpc-go's own 30-minute idle limit
 * (2,000 downloads: 92 -> 162 MB RSS, 2,025 descriptors).
 */
export const IDLE_CONNECTION_MS = 60_000;

/**
 * The options of the plugin's gRPC server. Messages: gRPC's default limit,
 * since Argo sends 2 MiB SaveStream chunks and nothing larger need be read.
 */
export function serverOptions(idleConnectionMs = IDLE_CONNECTION_MS) {
  return {
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    "grpc.max_connection_idle_ms": idleConnectionMs,
  };
}

/**
 * RST_STREAMs one connection may carry: a burst, then per second. Node's
 * HTTP/2 server allows 1,000 then 33/s (nghttp2's rapid-reset mitigation),
 * then closes the connection with INTERNAL_ERROR, failing every call on it.
 * Argo's client (grpc-go) resets each OpenStream whose status has not arrived
 * when argo-server has copied it up to `is_end`, and grpc-js sends the status
 * in a later write than the last frame (it ends the HTTP/2 stream once that
 * frame's write completes): 3,200 downloads on one connection tripped the
 * limit (shared/interop-go, TestUIDownloadsOnOneConnection). Such resets
 * follow completed calls, so the limit is above the rate this server can
 * complete calls at all (about 1,700 small OpenStreams/s on 2 cores) and far
 * below a rapid-reset flood's, which is still cut off.
 */
const STREAM_RESET_LIMIT = { streamResetBurst: 10_000, streamResetRate: 10_000 };

/** HTTP/2 receive window of the plugin's connections: room for a few 2 MiB SaveStream chunks. */
const FLOW_CONTROL_WINDOW = 8 * 1024 * 1024;

/**
 * grpc-js lets clients size their HTTP/2 window (grpc-node.flow_control_window)
 * but has no server option, so uploads to the plugin (Save calls' SaveStream)
 * crawl through Node's 64 KiB default, about 35% slower. Its HTTP/2 servers are
 * reached through a private field; if a grpc-js upgrade removes it, the plugin
 * keeps working with the default window and says so.
 */
export function widenReceiveWindow(server: Server, logger: Logger): boolean {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) {
    logger.warn(
      "cannot reach grpc-js's HTTP/2 servers (its internals changed): uploads use the default 64 KiB receive window and are slower",
    );
    return false;
  }
  for (const http2Server of http2Servers.keys() as Iterable<NodeJS.EventEmitter>) {
    http2Server.on("session", (session: Http2Session) => {
      session.setLocalWindowSize(FLOW_CONTROL_WINDOW);
      session.settings({ initialWindowSize: FLOW_CONTROL_WINDOW });
    });
  }
  return true;
}

/**
 * grpc-js has no option for the reset limit (STREAM_RESET_LIMIT); it hands
 * this private object to http2.createServer when binding, so it is set before
 * bindAsync. If a grpc-js upgrade removes it, the plugin keeps Node's limit.
 */
export function allowResetsAfterCalls(server: Server, logger: Logger): boolean {
  const options = (server as unknown as { commonServerOptions?: unknown }).commonServerOptions;
  if (typeof options !== "object" || options === null) {
    logger.warn(
      "cannot reach grpc-js's HTTP/2 server options (its internals changed): a client sharing one connection for many downloads can see it closed after 1,000 stream resets",
    );
    return false;
  }
  Object.assign(options, STREAM_RESET_LIMIT);
  return true;
}
