import { DriverError, type Logger } from "@argo-artifact-drivers/core";
import { type ConnectionOptions, connect, type Session } from "./connection.js";

const DEFAULT_IDLE_MS = 30_000;

/**
 * The one SSH session of an adapter: opened on the first call, shared by
 * concurrent calls (SFTP multiplexes requests on one channel, so a directory
 * of a thousand files costs one handshake), opened again after it drops, and
 * closed after `idleMs` without calls so an idle sidecar holds no connection.
 */
export class SharedSession {
  private session: Promise<Session> | undefined;
  private active = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly idleMs = DEFAULT_IDLE_MS,
  ) {}

  private get logger(): Logger {
    return this.options.logger;
  }

  /** Runs `body` with a live session, counting it as activity for the idle timer. */
  async use<T>(signal: AbortSignal, body: (session: Session) => Promise<T>): Promise<T> {
    const release = this.hold();
    try {
      const session = await this.connection();
      signal.throwIfAborted();
      return await body(session);
    } finally {
      release();
    }
  }

  /**
   * Marks the session busy until the returned function is called: for a
   * stream that outlives the call that opened it. Throws once closed.
   */
  hold(): () => void {
    if (this.closed) {
      throw new DriverError(
        "unavailable",
        `the SFTP adapter for ${this.options.host}:${this.options.port} is closed`,
      );
    }
    this.active++;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (this.active === 0 && !this.closed) {
        this.idleTimer = setTimeout(() => void this.disconnect(), this.idleMs);
        this.idleTimer.unref();
      }
    };
  }

  /** The shared session, connecting (again) when there is none or it dropped. */
  async connection(): Promise<Session> {
    const current = this.session;
    if (current) {
      const session = await current.catch(() => undefined);
      if (session && !session.closed) return session;
      if (this.session === current) this.session = undefined;
      // Another caller may have started a new connection meanwhile: share it.
      if (this.session) return this.connection();
    }
    const connecting = connect(this.options);
    this.session = connecting;
    const { host, port } = this.options;
    connecting.then(
      () => this.logger.debug({ host, port }, "SSH connection opened"),
      () => {
        if (this.session === connecting) this.session = undefined;
      },
    );
    return connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    await this.disconnect();
  }

  private async disconnect(): Promise<void> {
    const current = this.session;
    this.session = undefined;
    const session = await current?.catch(() => undefined);
    if (session && !session.closed) {
      await session.end();
      const { host, port } = this.options;
      this.logger.debug({ host, port }, "SSH connection closed");
    }
  }
}
