// An AdapterContext for tests that drive the adapter in-process (what the
// plugin cannot be given: a token credential object, a counted retry). The
// core builds the real one; this stand-in keeps its rules: only transient
// failures are retried, a given number of tries, the first failure of a
// parallel run aborts the others.
import {
  type AdapterContext,
  asDriverError,
  type CallOptions,
  type Logger,
  type SecretRef,
} from "@argo-artifact-drivers/core";

export interface TestContext extends AdapterContext {
  /** Transient failures retried so far. */
  retries: number;
}

export function testContext(secrets: Record<string, string> = {}, attempts = 3): TestContext {
  const silent = () => undefined;
  const logger = {
    debug: silent,
    info: silent,
    warn: silent,
    error: silent,
    child: () => logger,
  } as unknown as Logger;
  const context: TestContext = {
    retries: 0,
    logger,
    secret(ref: SecretRef) {
      const source = ref.source;
      const name = source.kind === "env" ? source.name : String(ref);
      const value = secrets[name];
      if (value === undefined) throw new Error(`no test secret for ${ref}`);
      return value;
    },
    async retry<T>(operation: () => Promise<T>, { signal }: CallOptions): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await operation();
        } catch (thrown) {
          const error = asDriverError(thrown);
          if (!error.retryable || signal.aborted || attempt >= attempts) throw error;
          context.retries++;
        }
      }
    },
    async parallel<T>(
      items: Iterable<T> | AsyncIterable<T>,
      work: (item: T, options: CallOptions) => Promise<void>,
      { signal, concurrency = 4 }: CallOptions & { concurrency?: number },
    ): Promise<void> {
      const siblings = new AbortController();
      signal.addEventListener("abort", () => siblings.abort(), { once: true });
      const iterator =
        Symbol.asyncIterator in items
          ? items[Symbol.asyncIterator]()
          : (items as Iterable<T>)[Symbol.iterator]();
      const runner = async () => {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          await work(next.value, { signal: siblings.signal });
        }
      };
      let failure: { error: unknown } | undefined;
      const runs = Array.from({ length: concurrency }, () =>
        runner().catch((error: unknown) => {
          failure ??= { error };
          siblings.abort();
        }),
      );
      await Promise.all(runs);
      if (failure) throw failure.error;
    },
  };
  return context;
}
