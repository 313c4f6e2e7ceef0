import type { CallOptions, FolderEntry } from "./adapter.js";
import { telemetry } from "./telemetry.js";
import { isTempName } from "./temp-names.js";

export type ListChildren = (prefix: string, options: CallOptions) => AsyncIterable<FolderEntry>;

/**
 * Every file below folder `root` as a full key, reading up to `concurrency`
 * folders at once through a backend's one-level listing (nginx and others
 * refuse recursive listings). Temp names are skipped. Stopping early, or a
 * failure, aborts the folder reads in flight and waits for them.
 */
export async function* walkFiles(
  listChildren: ListChildren,
  root: string,
  { signal, concurrency }: CallOptions & { concurrency: number },
): AsyncGenerator<string> {
  const reads = new AbortController();
  const forwardAbort = () => reads.abort(signal.reason);
  signal.addEventListener("abort", forwardAbort, { once: true });
  const folders = [root];
  const found: string[] = [];
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  // One span for the walk; the folder listings (backend requests) hang below it.
  const span = telemetry().span("walk", { "artifact_driver.key": root });

  const read = (folder: string) => {
    const task = (async () => {
      for await (const entry of listChildren(folder, { signal: reads.signal })) {
        if (isTempName(entry.name)) continue;
        const key = folder === "" ? entry.name : `${folder}/${entry.name}`;
        (entry.kind === "file" ? found : folders).push(key);
      }
    })()
      .catch((error: unknown) => {
        failure ??= { error };
        reads.abort(error);
      })
      .finally(() => running.delete(task));
    running.add(task);
  };

  try {
    while (folders.length > 0 || running.size > 0 || found.length > 0) {
      while (found.length > 0) yield found.pop() as string;
      if (failure) throw failure.error;
      signal.throwIfAborted();
      while (folders.length > 0 && running.size < concurrency)
        span.run(() => read(folders.shift() as string));
      if (running.size > 0) await Promise.race(running);
    }
    if (failure) throw failure.error;
  } finally {
    signal.removeEventListener("abort", forwardAbort);
    reads.abort(new Error("the walk ended"));
    await Promise.allSettled(running);
    span.end(failure?.error);
  }
}
