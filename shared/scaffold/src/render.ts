/** The values of a template's placeholders, each written `__key__` in the template files. */
export interface TemplateValues {
  /** The driver's name, e.g. `demo-driver`: folder, package suffix, plugin name. */
  name: string;
  /** The name in PascalCase, e.g. `DemoDriver`: class names. */
  Name: string;
  /** One sentence for package.json and the README. */
  description: string;
  /** The zod version of the core, which the driver's schema must share. */
  zodVersion: string;
  /** The repository's vitest version. */
  vitestVersion: string;
}

const PLACEHOLDER = /__([A-Za-z]+)__/g;

/** `text` with every `__key__` replaced; throws on a placeholder without a value (a typo in a template). */
export function render(text: string, values: TemplateValues, file: string): string {
  return text.replace(PLACEHOLDER, (match, key: string) => {
    if (!Object.hasOwn(values, key)) {
      throw new Error(`template ${file} has the unknown placeholder ${match}`);
    }
    return values[key as keyof TemplateValues];
  });
}
