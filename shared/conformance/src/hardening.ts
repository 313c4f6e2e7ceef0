import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";

/** One hardening case's result for this driver: what happened, and whether that is acceptable. */
export interface HardeningOutcome {
  outcome: string;
  ok: boolean;
}

/** What `.test-results/hardening-<driver>.json` holds; scripts/hardening-table.mjs prints them all. */
export interface HardeningReport {
  driver: string;
  cases: Record<string, HardeningOutcome>;
  secrets: {
    /** How many distinct secret values were looked for (their values are never written). */
    canaries: number;
    logLines: number;
    messages: number;
    /** Where a secret value was found: "log of <plugin>" or "error message". */
    hits: string[];
  };
}

/** Every error message the kit's helpers received from a plugin in this test file. */
export const observedMessages: string[] = [];

/** Shorter values would match by chance (ports, "test"). */
const MIN_CANARY_LENGTH = 8;

/**
 * The hardening table's rows for one driver, and the secret canaries the kit
 * knows: every `{env}` and `{file}` reference's value in the configuration,
 * the Kubernetes Secret values, and the values scenarios plant on purpose.
 */
export class HardeningRecord {
  readonly cases = new Map<string, HardeningOutcome>();
  private readonly canaries = new Set<string>();
  /** Error messages the kit received from the plugin during the run. */
  readonly messages: string[] = [];

  constructor(readonly driver: string) {}

  record(name: string, outcome: string, ok = true): void {
    this.cases.set(name, { outcome, ok });
  }

  /** Registers a secret value that must never appear in a log line or an error. */
  canary(value: string): void {
    if (value.length >= MIN_CANARY_LENGTH) this.canaries.add(value);
  }

  /** The values of the secret references in a configuration (read from `env` and files as the plugin would). */
  canariesOf(configuration: string, env: Record<string, string | undefined>): void {
    let parsed: unknown;
    try {
      parsed = parse(configuration);
    } catch {
      return;
    }
    const visit = (value: unknown): void => {
      if (value === null || typeof value !== "object") return;
      const fields = value as Record<string, unknown>;
      if (typeof fields.env === "string") this.canary(env[fields.env] ?? "");
      if (typeof fields.file === "string") {
        try {
          this.canary(readFileSync(fields.file, "utf8"));
          this.canary(readFileSync(fields.file, "utf8").trim());
        } catch {}
      }
      for (const inner of Object.values(fields)) visit(inner);
    };
    visit(parsed);
  }

  /** Scans `logs` (by plugin name) and the kit's messages for every canary, then writes the report. */
  async write(folder: string, logs: Map<string, string[]>): Promise<HardeningReport> {
    const hits: string[] = [];
    let logLines = 0;
    for (const [plugin, lines] of logs) {
      logLines += lines.length;
      for (const line of lines) {
        if (this.leaks(line)) hits.push(`log of ${plugin}: ${line.slice(0, 120)}…`);
      }
    }
    for (const message of [...this.messages, ...observedMessages]) {
      if (this.leaks(message)) hits.push("error message (text withheld)");
    }
    const report: HardeningReport = {
      driver: this.driver,
      cases: Object.fromEntries(this.cases),
      secrets: {
        canaries: this.canaries.size,
        logLines,
        messages: this.messages.length + observedMessages.length,
        hits: hits.map((hit) => this.mask(hit)),
      },
    };
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, `hardening-${this.driver}.json`),
      `${JSON.stringify(report, null, 2)}\n`,
    );
    return report;
  }

  private leaks(text: string): boolean {
    for (const canary of this.canaries) if (text.includes(canary)) return true;
    return false;
  }

  private mask(text: string): string {
    let masked = text;
    for (const canary of this.canaries) masked = masked.replaceAll(canary, "<SECRET>");
    return masked;
  }
}
