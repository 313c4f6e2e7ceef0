import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CallOptions,
  type DriverDefinition,
  DriverError,
  type ErrorCode,
  type StorageAdapter,
} from "@argo-artifact-drivers/core";

export type AdapterMethod =
  | "stat"
  | "read"
  | "write"
  | "delete"
  | "deletePrefix"
  | "list"
  | "listChildren"
  | "move"
  | "readToFile"
  | "writeFromFile";

const STREAMING: ReadonlySet<AdapterMethod> = new Set(["list", "listChildren"]);
const METHODS: ReadonlySet<string> = new Set<AdapterMethod>([
  "stat",
  "read",
  "write",
  "delete",
  "deletePrefix",
  "list",
  "listChildren",
  "move",
  "readToFile",
  "writeFromFile",
]);

/** One fault: the first rule matching a call applies to it. */
export interface FaultRule {
  methods: AdapterMethod[];
  /** Only calls whose key (first argument) contains this. */
  keyIncludes?: string;
  /** Let the first `skip` matching calls through untouched. */
  skip?: number;
  /** Apply to `times` matching calls only (default: every one). */
  times?: number;
  /** Wait this long before failing or calling through; the call's signal ends the wait. */
  stallMs?: number;
  /** Stall through cancellation too, like an SDK call that cannot be interrupted. */
  ignoreSignal?: boolean;
  /** Fail with this code (message "injected fault"); without it the call goes through. */
  error?: ErrorCode;
  /** Text added to the failure's message, e.g. a secret value a careless SDK would echo. */
  message?: string;
}

export interface FaultPlan {
  rules: FaultRule[];
  /** A file that gets one JSON line per adapter call start and end: `{method, key, phase, at, ok}`. */
  log?: string;
}

export interface CallRecord {
  method: AdapterMethod;
  key: string;
  phase: "start" | "end";
  /** Date.now() of the event. */
  at: number;
  ok?: boolean;
}

/**
 * A driver whose adapters inject the planned faults into the real adapter's
 * calls and record every call, so tests can drive the core's failure paths
 * against a real backend and see when the last backend call ended.
 */
export function withFaults(driver: DriverDefinition, plan: FaultPlan): DriverDefinition {
  const seen = plan.rules.map(() => 0);
  const applied = plan.rules.map(() => 0);
  const record = (entry: CallRecord) => {
    if (plan.log) appendFileSync(plan.log, `${JSON.stringify(entry)}\n`);
  };
  /** Stalls and fails as the first applicable rule says. */
  async function inject(method: AdapterMethod, key: string, options: CallOptions | undefined) {
    const index = plan.rules.findIndex((rule, i) => {
      if (!rule.methods.includes(method)) return false;
      if (rule.keyIncludes !== undefined && !key.includes(rule.keyIncludes)) return false;
      seen[i] = (seen[i] ?? 0) + 1;
      if ((seen[i] ?? 0) <= (rule.skip ?? 0)) return false;
      return rule.times === undefined || (applied[i] ?? 0) < rule.times;
    });
    const rule = plan.rules[index];
    if (!rule) return;
    applied[index] = (applied[index] ?? 0) + 1;
    if (rule.stallMs)
      await sleep(rule.stallMs, undefined, rule.ignoreSignal ? {} : { signal: options?.signal });
    if (rule.error)
      throw new DriverError(rule.error, `injected fault in ${method}${rule.message ?? ""}`);
  }

  function wrap(adapter: StorageAdapter): StorageAdapter {
    return new Proxy(adapter, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof property !== "string" || !METHODS.has(property) || typeof value !== "function")
          return value;
        const method = property as AdapterMethod;
        const call = value as (...args: unknown[]) => unknown;
        const optionsOf = (args: unknown[]) =>
          args.find((arg): arg is CallOptions => (arg as CallOptions)?.signal !== undefined);
        if (STREAMING.has(method)) {
          return async function* (...args: unknown[]) {
            const key = String(args[0]);
            record({ method, key, phase: "start", at: Date.now() });
            let ok = false;
            try {
              await inject(method, key, optionsOf(args));
              yield* call.apply(target, args) as AsyncIterable<unknown>;
              ok = true;
            } finally {
              record({ method, key, phase: "end", at: Date.now(), ok });
            }
          };
        }
        return async (...args: unknown[]) => {
          const key = String(args[0]);
          record({ method, key, phase: "start", at: Date.now() });
          let ok = false;
          try {
            await inject(method, key, optionsOf(args));
            const result = await call.apply(target, args);
            ok = true;
            return result;
          } finally {
            record({ method, key, phase: "end", at: Date.now(), ok });
          }
        };
      },
    });
  }

  return {
    ...driver,
    async createAdapter(config, context) {
      return wrap(await driver.createAdapter(config, context));
    },
  };
}
