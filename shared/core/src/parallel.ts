import type { CallOptions } from "./adapter.js";

/**
 * Runs `work` for every item, at most `concurrency` at once. Every run gets a
 * child signal; the first failure aborts the others, and this settles only
 * after every run has, so a caller that cleans up after a failure (temp
 * files, multipart uploads) never races a sibling that is still writing.
 */
export async function parallel<T>(
  items: Iterable<T> | AsyncIterable<T>,
  work: (item: T, options: CallOptions) => Promise<void>,
  { signal, concurrency }: CallOptions & { concurrency: number },
): Promise<void> {
  signal.throwIfAborted();
  const siblings = new AbortController();
  const forwardAbort = () => siblings.abort(signal.reason);
  signal.addEventListener("abort", forwardAbort, { once: true });
  const iterator =
    Symbol.asyncIterator in items
      ? items[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
    siblings.abort(error);
  };

  async function runner(): Promise<void> {
    while (!failure && !siblings.signal.aborted) {
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } catch (error) {
        return fail(error);
      }
      if (next.done || failure) return;
      try {
        await work(next.value, { signal: siblings.signal });
      } catch (error) {
        return fail(error);
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runner));
  } finally {
    signal.removeEventListener("abort", forwardAbort);
    if (failure || signal.aborted) await iterator.return?.();
  }
  if (failure) throw failure.error;
  signal.throwIfAborted();
}
