import { defineDriver, secretRef } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "webdav";

/** Headers the driver sets itself, or that carry credentials (those belong in secrets). */
const RESERVED_HEADERS = new Set([
  "authorization",
  "connection",
  "content-length",
  "content-type",
  "cookie",
  "depth",
  "destination",
  "expect",
  "host",
  "keep-alive",
  "overwrite",
  "proxy-authorization",
  "range",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Header names and one-line values; credentials and the headers WebDAV methods depend on are refused. */
const extraHeaders = z.record(z.string(), z.string()).superRefine((headers, context) => {
  for (const [name, value] of Object.entries(headers)) {
    const issue = (message: string) => context.addIssue({ code: "custom", message, path: [name] });
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) issue("is not an HTTP header name");
    else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      issue(
        "is set by the driver or carries credentials; use usernameSecret, passwordSecret or bearerTokenSecret for credentials",
      );
    }
    if (/[\r\n\0]/.test(value)) issue("must be one line");
  }
});

export const webdavConfig = {
  url: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
    // A value that failed the URL check above still reaches these refinements.
    .refine((value) => {
      const url = URL.parse(value);
      return url === null || (url.username === "" && url.password === "");
    }, "must not contain credentials; use usernameSecret and passwordSecret")
    .refine((value) => {
      const url = URL.parse(value);
      return url === null || (url.search === "" && url.hash === "");
    }, "must not have a query or a fragment")
    .describe(
      "Base URL of the WebDAV collection holding the artifacts, with any path prefix (e.g. https://cloud.example.com/remote.php/dav/files/argo/artifacts); keys are paths below it",
    ),
  usernameSecret: secretRef()
    .optional()
    .describe("Secret holding the user name for basic or digest authentication"),
  passwordSecret: secretRef()
    .optional()
    .describe("Secret holding the password (or app password) for basic or digest authentication"),
  authType: z
    .enum(["basic", "digest"])
    .default("basic")
    .describe("How the user name and password are sent: `basic` or `digest` (RFC 7616)"),
  bearerTokenSecret: secretRef()
    .optional()
    .describe(
      "Secret holding a token sent as `Authorization: Bearer <token>`, instead of a user name and password",
    ),
  caSecret: secretRef()
    .optional()
    .describe(
      "Secret holding PEM CA certificates trusted for an https url, besides the system ones",
    ),
  insecureSkipVerify: z
    .boolean()
    .default(false)
    .describe(
      "Accept any TLS certificate of an https url without verification (tests only; logged as a warning)",
    ),
  headers: extraHeaders
    .default({})
    .describe(
      "Extra HTTP headers sent with every request (not for credentials), e.g. {X-Tenant: builds}",
    ),
  connectTimeoutSeconds: z
    .number()
    .min(1)
    .max(120)
    .default(10)
    .describe("How long to wait for a connection to the server before reporting it unreachable"),
  timeoutSeconds: z
    .number()
    .min(1)
    .max(3600)
    .default(300)
    .describe("How long a request may wait for the server's next bytes before it is retried"),
};

export type WebdavConfig = z.output<z.ZodObject<typeof webdavConfig>>;

export const driver = defineDriver({
  name: DRIVER_NAME,
  config: webdavConfig,
  preload: () => import("./adapter.js"),
  async createAdapter(config, context) {
    // The adapter (and the webdav package it parses with) loads lazily, after the socket is bound.
    const { WebdavAdapter } = await import("./adapter.js");
    return WebdavAdapter.create(config, context);
  },
});
