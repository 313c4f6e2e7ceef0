import { DriverError, defineDriver, secretRef } from "@argo-artifact-drivers/core";
import { z } from "zod";

export const DRIVER_NAME = "sftp";

/** `SHA256:` and 43 unpadded base64 characters, as `ssh-keygen -lf` prints it. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

export const driver = defineDriver({
  name: DRIVER_NAME,
  config: {
    host: z.string().min(1).describe("Host name or IP address of the SFTP server"),
    port: z.number().int().min(1).max(65535).default(22).describe("SSH port of the server"),
    username: z.string().min(1).describe("User to log in as"),
    passwordSecret: secretRef()
      .optional()
      .describe("Secret holding the user's password (or use privateKeySecret)"),
    privateKeySecret: secretRef()
      .optional()
      .describe("Secret holding the user's private key, OpenSSH or PEM format"),
    passphraseSecret: secretRef()
      .optional()
      .describe("Secret holding the passphrase of an encrypted private key"),
    basePath: z
      .string()
      .default("")
      .describe(
        "Folder on the server that keys are relative to; relative paths start at the login folder",
      ),
    knownHostsSecret: secretRef()
      .optional()
      .describe(
        "Secret holding known_hosts lines for the server (e.g. the output of ssh-keyscan -p PORT HOST)",
      ),
    hostKeyFingerprint: z
      .string()
      .regex(FINGERPRINT, 'expected "SHA256:" and 43 base64 characters, as ssh-keygen -lf prints')
      .optional()
      .describe(
        "The server's host key fingerprint, as printed by: ssh-keyscan -p PORT HOST | ssh-keygen -lf -",
      ),
    insecureIgnoreHostKey: z
      .boolean()
      .default(false)
      .describe("Accept any host key without verification (tests only; logged as a warning)"),
    connectTimeoutSeconds: z
      .number()
      .min(1)
      .max(300)
      .default(10)
      .describe("How long to wait for the TCP connection and for the SSH handshake and login"),
    timeoutSeconds: z
      .number()
      .min(1)
      .max(3600)
      .default(30)
      .describe(
        "How long the server may stay silent (no answer, not even to SSH keepalives) before the connection counts as broken and the call is retried on a new one",
      ),
  },
  preload: () => Promise.all([import("./host-key.js"), import("./adapter.js")]),
  async createAdapter(config, ctx) {
    const where = `sftp://${config.username}@${config.host}:${config.port}`;
    if (config.passwordSecret && config.privateKeySecret) {
      throw new DriverError(
        "invalid-config",
        `${where}: set either passwordSecret or privateKeySecret, not both`,
      );
    }
    if (!config.passwordSecret && !config.privateKeySecret) {
      throw new DriverError(
        "invalid-config",
        `${where}: no credentials; set passwordSecret or privateKeySecret`,
      );
    }
    if (config.passphraseSecret && !config.privateKeySecret) {
      throw new DriverError(
        "invalid-config",
        `${where}: passphraseSecret is only used with privateKeySecret`,
      );
    }
    const pins = [
      config.knownHostsSecret && "knownHostsSecret",
      config.hostKeyFingerprint && "hostKeyFingerprint",
      config.insecureIgnoreHostKey && "insecureIgnoreHostKey",
    ].filter(Boolean);
    if (pins.length === 0) {
      throw new DriverError(
        "invalid-config",
        `${where}: the server's host key cannot be verified: set hostKeyFingerprint to the SHA256 fingerprint printed by "ssh-keyscan -p ${config.port} ${config.host} | ssh-keygen -lf -" (run it from a trusted machine and compare with the server's administrator), or set knownHostsSecret to known_hosts lines for the server`,
      );
    }
    if (pins.length > 1) {
      throw new DriverError(
        "invalid-config",
        `${where}: set only one of knownHostsSecret, hostKeyFingerprint and insecureIgnoreHostKey (found ${pins.join(", ")})`,
      );
    }

    const { hostKeyPolicy } = await import("./host-key.js");
    const { SftpAdapter } = await import("./adapter.js");
    const hostKey = hostKeyPolicy({
      host: config.host,
      port: config.port,
      knownHosts: config.knownHostsSecret && {
        text: ctx.secret(config.knownHostsSecret),
        source: String(config.knownHostsSecret),
      },
      fingerprint: config.hostKeyFingerprint,
      insecure: config.insecureIgnoreHostKey,
    });
    if (hostKey.kind === "insecure") {
      ctx.logger.warn(
        { host: config.host, port: config.port },
        "insecureIgnoreHostKey is set: the SFTP server's host key is not verified, so the connection can be intercepted",
      );
    }
    return new SftpAdapter(
      {
        host: config.host,
        port: config.port,
        username: config.username,
        password: config.passwordSecret && ctx.secret(config.passwordSecret),
        privateKey: config.privateKeySecret && {
          text: ctx.secret(config.privateKeySecret),
          source: String(config.privateKeySecret),
          passphrase: config.passphraseSecret && ctx.secret(config.passphraseSecret),
        },
        basePath: config.basePath,
        hostKey,
        connectTimeoutMs: config.connectTimeoutSeconds * 1000,
        silenceTimeoutMs: config.timeoutSeconds * 1000,
      },
      ctx,
    );
  },
});
