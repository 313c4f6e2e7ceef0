/** Why `name` cannot name a new driver, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name === "") return "give the driver's name, e.g. `pnpm new-driver gcs`";
  if (!/^[a-z0-9-]+$/.test(name))
    return `"${name}" may hold only lowercase letters, digits and hyphens (it names the folder, the package and the plugin)`;
  if (!/^[a-z]/.test(name)) return `"${name}" must start with a letter`;
  if (name.endsWith("-") || name.includes("--"))
    return `"${name}" may not end with a hyphen or hold two in a row`;
  if (name.startsWith("driver-"))
    return `"${name}" starts with "driver-", which the package name already has: use "${name.slice("driver-".length)}"`;
  if (name.length > 40) return `"${name}" is longer than 40 characters`;
  return undefined;
}

/** `demo-driver` → `DemoDriver`, for class names. */
export function pascalCase(name: string): string {
  return name
    .split("-")
    .map((part) => (part[0] ?? "").toUpperCase() + part.slice(1))
    .join("");
}
