import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { driverModule } from "./backend.js";
import type { CallRecord, FaultPlan } from "./faults.js";
import type { Kit } from "./kit.js";
import { PluginProcess } from "./plugin-process.js";

const FAULT_MAIN = fileURLToPath(new URL("./fault-main.js", import.meta.url));

/** The driver's plugin with `plan`'s faults around its adapter; `records()` reads its adapter calls so far. */
export async function startFaultyPlugin(
  kit: Kit,
  name: string,
  plan: FaultPlan,
  env: Record<string, string> = {},
): Promise<{ plugin: PluginProcess; records: () => Promise<CallRecord[]> }> {
  const log = join(kit.work, `faults-${name}.jsonl`);
  await writeFile(log, "");
  const plugin = await PluginProcess.start(
    FAULT_MAIN,
    join(kit.work, "sockets", `faulty-${name}`, "socket"),
    {
      ...kit.options.env,
      ...env,
      CONFORMANCE_DRIVER_MODULE: driverModule(kit.options),
      CONFORMANCE_FAULTS: JSON.stringify({ ...plan, log }),
    },
  );
  const records = async () =>
    (await readFile(log, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as CallRecord);
  return { plugin, records };
}
