import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeRandomFile } from "./files.js";
import { PluginProcess } from "./plugin-process.js";

/** The same transfer made directly with the backend's own client, for comparison. */
export interface DirectTransfers {
  /** Uploads `source` (a file of `bytes`). */
  Save(source: string): Promise<void>;
  /** Downloads what was saved into the file `target`. */
  Load(target: string): Promise<void>;
  /** Reads what was saved as a stream; resolves to the bytes received. */
  OpenStream(): Promise<number>;
}

export interface ThroughputBenchmark {
  /** Heading, e.g. `S3 driver on moto http://127.0.0.1:4567`. */
  title: string;
  /** The driver's `dist/main.js`. */
  entrypoint: string;
  /** The plugin's configuration for the same backend the direct transfers use. */
  configuration: string;
  env?: Record<string, string>;
  /** Size of the file; default BENCH_MIB (MiB, default 1024). */
  bytes?: number;
  /** Rounds, best kept; default BENCH_ROUNDS (default 1). */
  rounds?: number;
  direct: DirectTransfers;
}

const MiB = 1024 * 1024;

/**
 * Save, Load and OpenStream of one random file through the plugin (its real
 * entrypoint on a socket, driven by the test client as Argo drives it) and
 * directly with the backend's client, interleaved in the same run; prints
 * MB/s for both and the plugin's peak RSS. Asserts only that bytes arrived.
 */
export async function benchmarkThroughput(bench: ThroughputBenchmark): Promise<void> {
  const bytes = bench.bytes ?? Number(process.env.BENCH_MIB ?? 1024) * MiB;
  const rounds = bench.rounds ?? Number(process.env.BENCH_ROUNDS ?? 1);
  const work = await mkdtemp(join(tmpdir(), "bench-"));
  const source = join(work, "source.bin");
  const target = join(work, "target.bin");
  let plugin: PluginProcess | undefined;
  try {
    await writeRandomFile(source, bytes);
    plugin = await PluginProcess.start(bench.entrypoint, join(work, "plugin.sock"), {
      LOG_LEVEL: "warn",
      ...bench.env,
    });
    const client = plugin.client(bench.configuration, "bench");
    const expectSize = async (path: string) => {
      const { size } = await stat(path);
      if (size !== bytes) throw new Error(`${path} has ${size} bytes, expected ${bytes}`);
    };
    const expectCount = (who: string, received: number) => {
      if (received !== bytes)
        throw new Error(`${who} OpenStream got ${received} of ${bytes} bytes`);
    };
    const direct: Record<string, () => Promise<void>> = {
      Save: () => bench.direct.Save(source),
      Load: async () => {
        await bench.direct.Load(target);
        await expectSize(target);
      },
      OpenStream: async () => expectCount("direct", await bench.direct.OpenStream()),
    };
    const viaPlugin: Record<string, () => Promise<void>> = {
      Save: () => client.save("bench/plugin.bin", source),
      Load: async () => {
        await client.load("bench/plugin.bin", target);
        await expectSize(target);
      },
      OpenStream: async () => {
        let received = 0;
        for await (const chunk of client.openStream("bench/plugin.bin")) received += chunk.length;
        expectCount("plugin", received);
      },
    };
    const rate = async (transfer: () => Promise<void>) => {
      await rm(target, { force: true });
      const started = performance.now();
      await transfer();
      return bytes / 1e6 / ((performance.now() - started) / 1000);
    };
    const rows: { operation: string; plugin: number; direct: number }[] = [];
    for (const operation of ["Save", "Load", "OpenStream"]) {
      const best = { plugin: 0, direct: 0 };
      for (let round = 0; round < rounds; round++) {
        best.direct = Math.max(best.direct, await rate(direct[operation] as () => Promise<void>));
        best.plugin = Math.max(
          best.plugin,
          await rate(viaPlugin[operation] as () => Promise<void>),
        );
      }
      rows.push({ operation, ...best });
    }
    const peak = await plugin.peakRss();
    client.close();

    console.log(`\n${bench.title}: ${bytes / MiB} MiB, best of ${rounds} round(s)\n`);
    console.log("operation    plugin MB/s   direct MB/s   plugin/direct");
    for (const row of rows) {
      console.log(
        `${row.operation.padEnd(12)} ${row.plugin.toFixed(1).padStart(11)}   ${row.direct.toFixed(1).padStart(11)}   ${((100 * row.plugin) / row.direct).toFixed(0).padStart(12)}%`,
      );
    }
    console.log(`\nplugin peak RSS (VmHWM): ${(peak / MiB).toFixed(0)} MiB`);
  } finally {
    await plugin?.stop();
    await rm(work, { recursive: true, force: true });
  }
}
