import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import type { AdapterCache } from "./adapter-cache.js";
import type { DriverDefinition } from "./driver.js";
import { type ArtifactServiceServer, ArtifactServiceService } from "./generated/artifact.js";
import { createLogger, type Logger } from "./log.js";
import { allowResetsAfterCalls, serverOptions, widenReceiveWindow } from "./server-options.js";
import { startTelemetry, telemetry } from "./telemetry.js";
import { ArtifactServiceDefinition } from "./wire.js";

const USAGE = `usage: <plugin> SOCKET_PATH

Serves Argo Workflows' ArtifactService (gRPC) on the Unix socket SOCKET_PATH.
Argo starts the image's entrypoint with exactly one argument, the socket path
/tmp/artifact-plugins/<plugin-name>/socket.

Environment:
  LOG_LEVEL                        trace, debug, info (default), warn, error
  ARTIFACT_DRIVER_SECRET_SOURCES   secret references allowed in configurations:
                                   comma list of kubernetes, env, file
                                   (default: kubernetes)
  ARTIFACT_DRIVER_SECRET_NAMES     the only Kubernetes Secrets configurations may
                                   name: comma list (unset: any; empty: none)
  ARTIFACT_DRIVER_AMBIENT_CREDENTIALS
                                   allow or deny the container's own identity
                                   (useSDKCreds, Application Default Credentials);
                                   default: allow in Argo's workflow and GC pods,
                                   deny elsewhere (beside argo-server)
  ARTIFACT_DRIVER_SHUTDOWN_GRACE_SECONDS
                                   how long calls in flight may finish after
                                   SIGTERM (default: 10)
  OTEL_EXPORTER_OTLP_ENDPOINT      OpenTelemetry traces and metrics over OTLP
                                   (gRPC; OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
                                   for HTTP), as Argo configures its own; off
                                   when unset (also the _TRACES_/_METRICS_ forms)
`;

/** After the last call, how long answers may take to reach clients before connections are cut. */
const FLUSH_MS = 1000;

/** After cancelling calls at the end of the grace period, how long they may take to remove their temp files. */
const CLEANUP_MS = 5000;

/** Reflection loads once no call has been in flight for this long... */
const REFLECTION_QUIET_MS = 500;
/** ...or this long after the service loaded, on a server that is never quiet. */
const REFLECTION_LATEST_MS = 10_000;

/** On stop, how long pending spans and metrics may take to be exported. */
const TELEMETRY_FLUSH_MS = 3000;

export interface RunningServer {
  readonly socketPath: string;
  /**
   * Stops accepting calls, lets calls in flight finish for `graceMs`, then
   * cancels the rest, waits for their cleanup (temp files) and closes
   * everything. Calling it again returns the same promise.
   */
  stop(graceMs?: number): Promise<void>;
  /** Ends the grace period of a stop in progress now. */
  force(): void;
}

/** A driver, or a function that imports it: importing late lets the socket bind first. */
export type DriverSource = DriverDefinition | (() => Promise<DriverDefinition>);

/**
 * The entrypoint of every driver image: `serve(() => import("./driver.js")...)`
 * reads the socket path from the command line, binds before anything slow
 * happens (Argo polls for the socket), and exits 0 on SIGTERM/SIGINT after
 * draining.
 */
export function serve(driver: DriverSource, argv = process.argv.slice(2)): void {
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const socketArg = argv[0];
  if (argv.length !== 1 || socketArg === undefined || socketArg.startsWith("-")) {
    process.stderr.write(
      `expected exactly one argument, the socket path; got ${argv.length}\n\n${USAGE}`,
    );
    process.exit(2);
  }
  const logger = createLogger();
  let graceSeconds = Number(process.env.ARTIFACT_DRIVER_SHUTDOWN_GRACE_SECONDS ?? 10);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) graceSeconds = 10;

  // Signal handlers come first: Kubernetes may stop a pod at any moment,
  // even while the plugin is still starting, and the default action of
  // SIGTERM (exit 143) can fail the workflow node.
  let signals = 0;
  let server: RunningServer | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    if (!server || signals === 0) return;
    if (stopping) {
      // A second signal: the operator does not want to wait for the grace period.
      logger.warn("second signal: cancelling calls in flight now");
      server.force();
      return;
    }
    logger.info({ graceSeconds }, "stopping: draining calls in flight");
    stopping = server.stop(graceSeconds * 1000).then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "stopping failed");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    logger.info({ signal }, "signal received");
    stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  startServer(driver, socketArg, logger).then(
    (started) => {
      server = started;
      stop();
    },
    (error: unknown) => {
      logger.fatal({ err: error, socket: socketArg }, "cannot serve on the socket");
      process.exit(1);
    },
  );
}

/** Binds the ArtifactService for `driver` on `socketPath`; used by `serve` and by tests. */
export async function startServer(
  driver: DriverSource,
  socketPath: string,
  logger: Logger = createLogger(),
): Promise<RunningServer> {
  const started = performance.now();
  const socket = resolve(socketPath);
  prepareSocketPath(socket);

  // The service (configuration schemas, YAML, secrets, the driver itself) is
  // loaded once the socket accepts connections (loading it earlier would
  // delay the bind); calls that arrive first wait for it.
  const service = Promise.withResolvers<ArtifactServiceServer>();
  let adapters: AdapterCache | undefined;
  const calls = new CallCounter();
  const server = new Server(serverOptions());
  server.addService(ArtifactServiceDefinition, deferred(service.promise, calls));
  allowResetsAfterCalls(server, logger);

  await new Promise<void>((done, fail) => {
    server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (error) =>
      error ? fail(error) : done(),
    );
  });
  // Argo's executor may run as another uid (8737) than the plugin; connecting
  // to a Unix socket needs write permission, and the folder is pod-private.
  chmodSync(socket, 0o666);
  widenReceiveWindow(server, logger);
  logger.info(
    { socket, startupMs: Math.round(performance.now() - started) },
    "serving ArtifactService",
  );

  const loaded = await loadService(driver, logger);
  adapters = loaded.adapters;
  service.resolve(loaded.service);
  await loaded.preloaded;
  let stopped: Promise<void> | undefined;
  // Reflection (grpcurl list/describe) is not on Argo's path, and compiling
  // it took about 50 ms of the first answered call (bench/run.mjs, start ->
  // first IsDirectory: 290 -> 240 ms for S3): it loads once no call has been
  // in flight for a moment, or after REFLECTION_LATEST_MS on a busy server.
  void Promise.race([
    calls.quiet(REFLECTION_QUIET_MS),
    sleep(REFLECTION_LATEST_MS, undefined, { ref: false }),
  ])
    .then(() => (stopped ? undefined : addReflection(server)))
    .catch((error: unknown) => logger.warn({ err: error }, "gRPC reflection is unavailable"));

  const grace = new AbortController();
  const stop = async (graceMs: number) => {
    // tryShutdown refuses new calls and closes connections once their
    // streams end, but its callback can wait on a client that keeps its
    // connection open; so draining ends by our own count of calls in flight,
    // plus a moment for the last answers to be flushed.
    const closed = new Promise<void>((done) => server.tryShutdown(() => done()));
    const drained = await Promise.race([
      calls.idle().then(() => true),
      sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    if (drained) await Promise.race([closed, sleep(FLUSH_MS)]);
    if (!drained) logger.warn({ graceMs }, "calls still in flight: cancelling them");
    server.forceShutdown();
    // Cancelled calls remove their temp files before they answer.
    if (
      !drained &&
      !(await Promise.race([calls.idle().then(() => true), sleep(CLEANUP_MS, false)]))
    )
      logger.warn(
        { cleanupMs: CLEANUP_MS },
        "cancelled calls did not finish their cleanup in time",
      );
    await adapters?.closeAll();
    // Spans and metrics still pending, within a bound: a collector that is
    // down must not hold up the pod's termination.
    if (telemetry().enabled)
      await Promise.race([telemetry().shutdown(), sleep(TELEMETRY_FLUSH_MS)]);
    try {
      unlinkSync(socket);
    } catch {
      // Already gone: nothing to clean.
    }
  };

  return {
    socketPath: socket,
    stop(graceMs = 10_000) {
      stopped ??= stop(graceMs);
      return stopped;
    },
    force() {
      grace.abort();
    },
  };
}

async function loadService(
  source: DriverSource,
  logger: Logger,
): Promise<{ service: ArtifactServiceServer; adapters: AdapterCache; preloaded: Promise<void> }> {
  const [
    driver,
    { AdapterCache },
    { ConfigParser },
    { allowedSecretSources, SecretResolver },
    { createArtifactService },
  ] = await Promise.all([
    typeof source === "function" ? source() : source,
    import("./adapter-cache.js"),
    import("./config.js"),
    import("./secrets.js"),
    import("./service.js"),
  ]);
  const driverLogger = logger.child({ driver: driver.name });
  await startTelemetry(driver.name, driverLogger);
  const secrets = new SecretResolver({ allowed: allowedSecretSources() });
  const adapters = new AdapterCache(driver, secrets, driverLogger);
  const service = createArtifactService({
    driverName: driver.name,
    logger: driverLogger,
    parser: new ConfigParser(driver.config),
    adapters,
  });
  // `then`, so that a preload that throws at once is caught like one that rejects.
  const preloaded = Promise.resolve()
    .then(() => driver.preload?.())
    .then(
      () => undefined,
      (error: unknown) =>
        driverLogger.warn(
          { err: error },
          "preloading the driver's SDK failed: the first call loads it",
        ),
    );
  return { service, adapters, preloaded };
}

/**
 * Handlers that wait for the real ones (the same methods, each delegating
 * once `service` is loaded) and count the calls in flight, so that a stop
 * can tell when draining is over.
 */
function deferred(
  service: Promise<ArtifactServiceServer>,
  calls: CallCounter,
): ArtifactServiceServer {
  const handlers: Record<string, (call: never, callback?: never) => void> = {};
  for (const method of Object.keys(ArtifactServiceService)) {
    handlers[method] = (call: NodeJS.EventEmitter, callback?: (...args: unknown[]) => void) => {
      const finished = calls.begin();
      if (callback) {
        const inner = callback;
        callback = (...args) => {
          finished();
          inner(...args);
        };
      } else {
        // Server streaming: done when the stream ends or breaks.
        for (const event of ["finish", "close", "error"]) call.once(event, finished);
      }
      void service.then((loaded) => {
        const handle = () =>
          (loaded[method] as (call: unknown, callback: unknown) => void)(call, callback);
        const tracing = telemetry();
        if (!tracing.enabled) return handle();
        // Argo's client (otelgrpc) sends its span's context as W3C traceparent metadata.
        const { metadata } = call as unknown as { metadata: Metadata };
        tracing.withCaller((name) => {
          const [value] = metadata.get(name);
          return typeof value === "string" ? value : undefined;
        }, handle);
      });
    };
  }
  return handlers as unknown as ArtifactServiceServer;
}

/** Calls in flight; `idle()` resolves once there are none. */
class CallCounter {
  private active = 0;
  private lastActive = performance.now();
  private waiters: (() => void)[] = [];

  begin(): () => void {
    this.active++;
    this.lastActive = performance.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active--;
      this.lastActive = performance.now();
      if (this.active === 0) for (const wake of this.waiters.splice(0)) wake();
    };
  }

  /** Resolves once no call has been in flight, or begun, for `quietMs`. */
  async quiet(quietMs: number): Promise<void> {
    for (;;) {
      await this.idle();
      const since = performance.now() - this.lastActive;
      if (since >= quietMs) return;
      await sleep(quietMs - since, undefined, { ref: false });
    }
  }

  idle(): Promise<void> {
    return this.active === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Creates a missing parent folder and removes a stale socket; refuses to delete anything else. */
function prepareSocketPath(socket: string): void {
  mkdirSync(dirname(socket), { recursive: true });
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(socket);
  } catch {
    return;
  }
  if (!existing.isSocket()) {
    throw new Error(`${socket} exists and is not a socket; refusing to replace it`);
  }
  unlinkSync(socket);
}

async function addReflection(server: Server): Promise<void> {
  const [{ loadFileDescriptorSetFromBuffer }, { ReflectionService }] = await Promise.all([
    import("@grpc/proto-loader"),
    import("@grpc/reflection"),
  ]);
  const descriptor = await readFile(new URL("./generated/artifact.binpb", import.meta.url));
  new ReflectionService(loadFileDescriptorSetFromBuffer(descriptor)).addToServer(server);
}
