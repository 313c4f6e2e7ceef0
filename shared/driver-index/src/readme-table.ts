import type { IndexEntry } from "./format.js";

export const TABLE_START =
  "<!-- driver-table:start (generated from index/drivers.json by `pnpm index`: edit the driver packages, not this table) -->";
export const TABLE_END = "<!-- driver-table:end -->";

/** Package descriptions say what the package is; the table's heading says it once. */
const REDUNDANT = /^Argo Workflows artifact driver plugin for /;

/** The README's driver table: one row per index entry, columns padded as the formatter pads them. */
export function driverTable(entries: readonly IndexEntry[]): string {
  const rows = entries.map((entry) => {
    const description = entry.description.replace(REDUNDANT, "");
    const published = entry.image.registry
      ? `\`${entry.image.registry}/${entry.image.name}\``
      : `\`${entry.image.name}\` (\`${entry.image.build ?? "build it"}\`)`;
    return [
      `[\`${entry.name}\`](${entry.readme})`,
      description.charAt(0).toUpperCase() + description.slice(1),
      entry.version,
      published,
      `[schema](index/${entry.schema})`,
    ];
  });
  return markdownTable(
    ["driver", "stores artifacts in", "version", "image", "configuration"],
    rows,
  );
}

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(3, title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join(
    "\n",
  );
}

/** `readme` with the text between the table markers replaced; throws when the markers are missing. */
export function withDriverTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(
      `README.md needs the driver table markers, on lines of their own:\n${TABLE_START}\n${TABLE_END}`,
    );
  }
  return `${readme.slice(0, start + TABLE_START.length)}\n\n${table}\n\n${readme.slice(end)}`;
}
