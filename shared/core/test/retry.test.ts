import { describe, expect, it } from "vitest";
import { asDriverError, DriverError } from "../src/errors.js";
import { withRetry } from "../src/retry.js";

const policy = { attempts: 5, initialDelaySeconds: 0.01, factor: 2 };

describe("withRetry", () => {
  it("retries transient failures with growing, jittered delays until one succeeds", async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withRetry(
      policy,
      new AbortController().signal,
      async () => {
        calls++;
        if (calls < 4) throw new DriverError("transient", "HTTP 503");
        return "done";
      },
      (_error, _attempt, delayMs) => delays.push(delayMs),
    );
    expect(result).toBe("done");
    expect(calls).toBe(4);
    expect(delays).toHaveLength(3);
    // 10, 20, 40 ms, each ±20%.
    [10, 20, 40].forEach((base, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(base * 0.8 - 1);
      expect(delays[i]).toBeLessThanOrEqual(base * 1.2 + 1);
    });
  });

  it("gives up after the last attempt with the last error", async () => {
    let calls = 0;
    await expect(
      withRetry(policy, new AbortController().signal, async () => {
        calls++;
        throw new DriverError("transient", `failure ${calls}`);
      }),
    ).rejects.toThrow("failure 5");
    expect(calls).toBe(5);
  });

  it("does not retry what a retry cannot fix", async () => {
    for (const code of [
      "not-found",
      "permission-denied",
      "invalid-config",
      "unavailable",
      "conflict",
    ] as const) {
      let calls = 0;
      await expect(
        withRetry(policy, new AbortController().signal, async () => {
          calls++;
          throw new DriverError(code, "no");
        }),
      ).rejects.toMatchObject({ code });
      expect(calls).toBe(1);
    }
  });

  it("stops waiting when the call is cancelled", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const slow = { attempts: 5, initialDelaySeconds: 30, factor: 1 };
    setTimeout(() => controller.abort(new Error("cancelled")), 50);
    await expect(
      withRetry(slow, controller.signal, async () => {
        throw new DriverError("transient", "HTTP 500");
      }),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("nested retries", () => {
  it("do not multiply: a part that used up its tries is not retried by the enclosing call", async () => {
    let partCalls = 0;
    const signal = new AbortController().signal;
    const outer = withRetry(policy, signal, () =>
      withRetry(policy, signal, async () => {
        partCalls++;
        throw new DriverError("transient", "HTTP 503");
      }),
    );
    await expect(outer).rejects.toThrow(/HTTP 503 \(after 5 tries\)/);
    expect(partCalls).toBe(5);
  });
});

describe("asDriverError", () => {
  it("classifies a raw socket error from a body stream, so a reset mid-download is retried", async () => {
    // What an http.IncomingMessage emits when its connection is reset mid-body.
    const reset = Object.assign(new Error("aborted"), { code: "ECONNRESET" });
    const failure = asDriverError(reset);
    expect(failure.code).toBe("transient");
    expect(failure.message).toContain("aborted");
    let calls = 0;
    await withRetry(policy, new AbortController().signal, async () => {
      if (++calls === 1) throw reset;
    });
    expect(calls).toBe(2);
    expect(asDriverError(new Error("something else")).code).toBe("unknown");
  });
});
