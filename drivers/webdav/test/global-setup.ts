import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestProject } from "vitest/node";

/**
 * The test servers, on loopback ports: Debian's Apache httpd with mod_dav_fs
 * (one instance, http and https with a certificate from a private CA) and
 * `rclone serve webdav`. Apache serves one DAV folder per kind of login:
 *
 *   /basic/     basic authentication
 *   /digest/    digest authentication
 *   /bearer/    only `Authorization: Bearer <token>` (checked by a `Require expr`)
 *   /tenant/    basic authentication and an `X-Tenant: builds` header
 *   /readonly/  basic authentication, reads only (writes get 403)
 */
export interface WebdavBackend {
  /** http://127.0.0.1:PORT of Apache (paths above). */
  apache: string;
  /** https://localhost:PORT of the same Apache. */
  apacheTls: string;
  /** http://127.0.0.1:PORT of rclone, basic authentication. */
  rclone: string;
  apachePid: number;
  username: string;
  password: string;
  token: string;
  /** The folders behind the Apache paths and rclone. */
  dirs: {
    basic: string;
    digest: string;
    bearer: string;
    tenant: string;
    readonly: string;
    rclone: string;
  };
  /** A folder beside the DAV folders that nothing may reach. */
  outside: string;
  /** PEM of the private CA that signed Apache's certificate, and of an unrelated CA. */
  caPem: string;
  otherCaPem: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    webdav: WebdavBackend;
  }
}

const USERNAME = "argo";
const PASSWORD = "dav-Pa55word:with colon";
const TOKEN = "test-bearer-token-7c1f";
const DIGEST_REALM = "dav-digest";

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function waitForPort(
  port: number,
  child: ChildProcess,
  what: string,
  log: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited with ${child.exitCode}:\n${await log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (open) return;
    if (Date.now() > deadline)
      throw new Error(`${what} did not listen on ${port}:\n${await log()}`);
    await sleep(25);
  }
}

/** A CA and a certificate it signs for localhost and 127.0.0.1. */
function certificates(dir: string): { ca: string; cert: string; key: string; otherCa: string } {
  const file = (name: string) => join(dir, name);
  const req = (args: string[]) => run("openssl", ["req", ...args]);
  req(
    ["-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=WebDAV test CA"].concat([
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.pem"),
    ]),
  );
  req(
    ["-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Other CA"].concat([
      "-keyout",
      file("other-ca.key"),
      "-out",
      file("other-ca.pem"),
    ]),
  );
  req(
    [
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-keyout",
      file("server.key"),
    ].concat(["-out", file("server.csr")]),
  );
  writeExt(file("server.ext"));
  run("openssl", [
    ...["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key")],
    ...[
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      file("server.ext"),
      "-out",
      file("server.pem"),
    ],
  ]);
  return {
    ca: file("ca.pem"),
    cert: file("server.pem"),
    key: file("server.key"),
    otherCa: file("other-ca.pem"),
  };
}

function writeExt(path: string): void {
  writeFileSync(path, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
}

function apacheConfig(
  root: string,
  httpPort: number,
  httpsPort: number,
  tls: { cert: string; key: string },
): string {
  const modules = [
    "mpm_event",
    "authn_core",
    "authn_file",
    "authz_core",
    "authz_user",
    "auth_basic",
    "auth_digest",
    "alias",
    "mime",
    "dav",
    "dav_fs",
    "ssl",
    "socache_shmcb",
  ];
  const dav = (name: string, rules: string[]) => [
    `Alias /${name} ${root}/data/${name}`,
    `<Directory ${root}/data/${name}>`,
    "  Dav On",
    "  DavDepthInfinity On",
    ...rules.map((rule) => `  ${rule}`),
    "</Directory>",
  ];
  const basic = [
    "AuthType Basic",
    'AuthName "dav"',
    "AuthBasicProvider file",
    `AuthUserFile ${root}/users`,
  ];
  return [
    `ServerRoot ${root}`,
    `PidFile ${root}/httpd.pid`,
    `ErrorLog ${root}/logs/error.log`,
    "LogLevel warn",
    `Listen 127.0.0.1:${httpPort}`,
    `Listen 127.0.0.1:${httpsPort}`,
    "ServerName 127.0.0.1",
    "User www-data",
    "Group www-data",
    ...modules.map((name) => `LoadModule ${name}_module /usr/lib/apache2/modules/mod_${name}.so`),
    "TypesConfig /etc/mime.types",
    `DocumentRoot ${root}/data/empty`,
    `DavLockDB ${root}/lock/DavLock`,
    // Without it Apache refuses bodies over 1 GiB with 413.
    "LimitRequestBody 0",
    "Timeout 300",
    `SSLSessionCache shmcb:${root}/ssl_scache(512000)`,
    `<VirtualHost 127.0.0.1:${httpsPort}>`,
    "  SSLEngine on",
    `  SSLCertificateFile ${tls.cert}`,
    `  SSLCertificateKeyFile ${tls.key}`,
    "</VirtualHost>",
    ...dav("basic", [...basic, "Require valid-user"]),
    ...dav("digest", [
      "AuthType Digest",
      `AuthName "${DIGEST_REALM}"`,
      "AuthDigestProvider file",
      `AuthUserFile ${root}/digest-users`,
      "Require valid-user",
    ]),
    ...dav("bearer", [`Require expr "%{HTTP:Authorization} == 'Bearer ${TOKEN}'"`]),
    ...dav("tenant", [
      ...basic,
      "<RequireAll>",
      "  Require valid-user",
      `  Require expr "%{HTTP:X-Tenant} == 'builds'"`,
      "</RequireAll>",
    ]),
    ...dav("readonly", [
      ...basic,
      "<RequireAll>",
      "  Require valid-user",
      "  Require method GET HEAD OPTIONS PROPFIND",
      "</RequireAll>",
    ]),
    "",
  ].join("\n");
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.getuid?.() !== 0)
    throw new Error("the WebDAV tests start Apache as www-data: run them as root");
  const setupOutput = run("bash", [join(import.meta.dirname, "setup-backend.sh")])
    .trim()
    .split("\n");
  const apache2 = setupOutput.at(-1) as string;
  const rclonePath = setupOutput.at(-2) as string;

  const root = await mkdtemp(join(tmpdir(), "webdav-backend-"));
  await chmod(root, 0o755);
  const names = ["basic", "digest", "bearer", "tenant", "readonly", "empty"] as const;
  for (const name of names) await mkdir(join(root, "data", name), { recursive: true });
  for (const name of ["lock", "logs", "rclone", "outside", "tls"]) await mkdir(join(root, name));
  await writeFile(join(root, "data", "readonly", "present.txt"), "read only\n");
  await mkdir(join(root, "data", "readonly", "folder"));
  await writeFile(join(root, "data", "readonly", "folder", "inside.txt"), "inside\n");
  await writeFile(join(root, "outside", "secret.txt"), "outside the DAV folders\n");
  run("htpasswd", ["-cbB", join(root, "users"), USERNAME, PASSWORD]);
  const ha1 = createHash("md5").update(`${USERNAME}:${DIGEST_REALM}:${PASSWORD}`).digest("hex");
  await writeFile(join(root, "digest-users"), `${USERNAME}:${DIGEST_REALM}:${ha1}\n`);
  run("chown", [
    "-R",
    "www-data:www-data",
    join(root, "data"),
    join(root, "lock"),
    join(root, "logs"),
  ]);
  run("chown", ["root:root", join(root, "data", "readonly", "present.txt")]);

  const tls = certificates(join(root, "tls"));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const config = join(root, "httpd.conf");
  await writeFile(config, apacheConfig(root, httpPort, httpsPort, tls));
  run(apache2, ["-t", "-f", config]);
  const apache = spawn(apache2, ["-f", config, "-DFOREGROUND"], { stdio: "ignore" });
  const apacheLog = () => readFile(join(root, "logs", "error.log"), "utf8").catch(() => "");
  await waitForPort(httpPort, apache, "apache2", apacheLog);
  await waitForPort(httpsPort, apache, "apache2 (https)", apacheLog);

  const rclonePort = await freePort();
  const rcloneOutput: string[] = [];
  const rclone = spawn(
    rclonePath,
    [
      ...["serve", "webdav", join(root, "rclone"), "--addr", `127.0.0.1:${rclonePort}`],
      ...["--user", USERNAME, "--pass", PASSWORD, "--config", "/dev/null"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  rclone.stderr?.on("data", (chunk: Buffer) => rcloneOutput.push(chunk.toString()));
  await waitForPort(rclonePort, rclone, "rclone", async () => rcloneOutput.join(""));

  const dir = (name: string) => join(root, "data", name);
  project.provide("webdav", {
    apache: `http://127.0.0.1:${httpPort}`,
    apacheTls: `https://localhost:${httpsPort}`,
    rclone: `http://127.0.0.1:${rclonePort}`,
    apachePid: apache.pid ?? 0,
    username: USERNAME,
    password: PASSWORD,
    token: TOKEN,
    dirs: {
      basic: dir("basic"),
      digest: dir("digest"),
      bearer: dir("bearer"),
      tenant: dir("tenant"),
      readonly: dir("readonly"),
      rclone: join(root, "rclone"),
    },
    outside: join(root, "outside"),
    caPem: await readFile(tls.ca, "utf8"),
    otherCaPem: await readFile(tls.otherCa, "utf8"),
  });

  return async () => {
    const stopped = (child: ChildProcess) =>
      new Promise((resolve) =>
        child.exitCode !== null ? resolve(undefined) : child.once("exit", resolve),
      );
    apache.kill("SIGTERM");
    rclone.kill("SIGTERM");
    await Promise.all([stopped(apache), stopped(rclone)]);
    await rm(root, { recursive: true, force: true });
  };
}
