// An AdapterContext for tests that drive the adapter in-process (what the
// plugin cannot be given: a token credential object, a counted retry): the
// core's own context, with secrets from a plain map, no waits between tries,
// and a count of the retries made.
import { type AdapterContext, adapterContext } from "@argo-artifact-drivers/core";

export interface TestContext extends AdapterContext {
  /** Transient failures retried so far. */
  retries: number;
}

export function testContext(secrets: Record<string, string> = {}, attempts = 3): TestContext {
  const counted = { retries: 0 };
  const core = adapterContext({
    retry: { attempts, initialDelaySeconds: 0, factor: 1 },
    parallelism: 4,
    secret: (ref) => {
      const name = ref.source.kind === "env" ? ref.source.name : String(ref);
      const value = secrets[name];
      if (value === undefined) throw new Error(`no test secret for ${ref}`);
      return value;
    },
    onRetry: () => {
      counted.retries++;
    },
  });
  return Object.assign(counted, core);
}
