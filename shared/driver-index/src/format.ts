import { z } from "zod";

/**
 * The format of index/drivers.json, defined once here: the generator checks
 * every entry against it (hand-written ones in index/external/ included) and
 * publishes it as index/drivers.schema.json.
 */
const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export const imageSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]+([._/-][a-z0-9]+)*$/, "must be an image repository path without registry")
      .describe("Repository path of the image, without registry and tag, e.g. acme/argo-gitlab"),
    registry: z
      .string()
      .min(1)
      .nullable()
      .describe(
        "Registry the image is published to (e.g. ghcr.io); null when it is not published and users build and push it themselves",
      ),
    tags: z.array(z.string().min(1)).min(1).describe("Tags published (or built) for this entry"),
    entrypoint: z
      .array(z.string().min(1))
      .min(1)
      .describe(
        "The image's ENTRYPOINT; Argo appends the socket path as the only argument, and the registration lists it in the controller's images so the controller need not ask the registry",
      ),
    user: z.number().int().min(1).describe("Numeric uid the image runs as (never root)"),
    architectures: z
      .array(z.enum(["amd64", "arm64", "ppc64le", "s390x"]))
      .min(1)
      .describe("Linux architectures the image is built for"),
    build: z.string().min(1).optional().describe("How to build the image from source"),
  })
  .describe("The plugin's container image");

export const entrySchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME, "must be 1-32 lowercase letters, digits and '-'")
      .describe("The driver's name, unique in the index, e.g. s3"),
    description: z
      .string()
      .min(1)
      .describe("One sentence: the backend the driver stores artifacts in"),
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, "must be a semantic version")
      .describe("Version of the driver described here"),
    license: z.string().min(1).describe("SPDX license identifier"),
    source: z
      .strictObject({
        repository: z
          .url()
          .optional()
          .describe("Source repository; absent for the drivers of this repository"),
        path: z.string().min(1).describe("Folder of the driver in its repository"),
        package: z.string().min(1).optional().describe("npm package name, for JavaScript drivers"),
      })
      .describe("Where the driver's source lives"),
    readme: z
      .string()
      .min(1)
      .describe("The driver's README: a path in this repository, or a URL for external drivers"),
    image: imageSchema,
    argo: z
      .strictObject({
        versions: z
          .string()
          .min(1)
          .describe('Argo Workflows versions the plugin works with, e.g. ">=4.0"'),
        rpcs: z
          .array(z.string().min(1))
          .min(1)
          .describe("ArtifactService methods the plugin implements"),
        saveStream: z
          .boolean()
          .describe(
            "Whether GetCapabilities answers supports_save_stream (uploads from the UI, Argo 4.1)",
          ),
      })
      .describe("What the plugin offers Argo"),
    secrets: z
      .strictObject({
        sources: z
          .array(z.enum(["kubernetes", "env", "file"]))
          .describe("Secret reference kinds the image allows by default"),
        fields: z
          .array(z.string().min(1))
          .describe("Configuration fields (dotted paths) that hold secret references"),
      })
      .describe("How the configuration refers to credentials"),
    configuration: z
      .record(z.string(), z.unknown())
      .describe(
        "JSON Schema (draft 2020-12) of the configuration string; secret fields are $refs to #/$defs/secretKeySelector",
      ),
    schema: z
      .string()
      .regex(/^schemas\/[a-z0-9-]+\.json$/)
      .describe("The same JSON Schema as a file of its own, relative to the index (for editors)"),
  })
  .describe("One artifact driver plugin");

export type IndexEntry = z.infer<typeof entrySchema>;

/** An entry written by hand in index/external/: the generator adds `schema` and `secrets.fields`. */
export const externalEntrySchema = entrySchema.omit({ schema: true, secrets: true }).extend({
  secrets: entrySchema.shape.secrets.omit({ fields: true }),
});

export type ExternalEntry = z.infer<typeof externalEntrySchema>;

export const indexSchema = z.strictObject({
  $schema: z.string().optional(),
  description: z.string(),
  drivers: z.array(entrySchema),
});

export type DriverIndex = z.infer<typeof indexSchema>;

/** index/drivers.schema.json: the format above as JSON Schema. */
export function indexFormatSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(indexSchema, { target: "draft-2020-12" }) as Record<string, unknown>),
    title: "Argo Workflows artifact driver index",
  };
}
