import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "@argo-artifact-drivers/conformance";
import type { TestProject } from "vitest/node";

/**
 * Starts a real OpenSSH sshd on a free loopback port for the tests: its own
 * host keys and config in a temp folder, a test user with a password and
 * authorized keys, SFTP served by internal-sftp. No chroot (sshd refuses
 * chroots under /tmp); tests confine themselves with basePath.
 */
export interface SftpBackend {
  host: string;
  port: number;
  username: string;
  password: string;
  /** Process id of the listening sshd; its children serve one connection each. */
  sshdPid: number;
  /** Folder owned by the test user, for basePath. */
  dataDir: string;
  /** Folder owned by root that the test user may read but not write. */
  readOnlyDir: string;
  /** Files holding secrets, for `{file: ...}` references. */
  files: {
    password: string;
    wrongPassword: string;
    privateKey: string;
    encryptedKey: string;
    passphrase: string;
    otherKey: string;
    knownHosts: string;
    knownHostsEcdsaOnly: string;
    knownHostsWrong: string;
  };
  /** SHA256 fingerprints of the server's host keys, as ssh-keygen -lf prints them. */
  fingerprints: { ed25519: string; ecdsa: string; wrong: string };
}

declare module "vitest" {
  export interface ProvidedContext {
    sftp: SftpBackend;
  }
}

const USERNAME = "argo-sftp-test";
const PASSWORD = "sftp-test-Pa55word";
const PASSPHRASE = "key passphrase 42";

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

async function waitForPort(port: number, sshd: ChildProcess, log: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (sshd.exitCode !== null)
      throw new Error(`sshd exited with ${sshd.exitCode}:\n${log.join("")}`);
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
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}:\n${log.join("")}`);
    await sleep(50);
  }
}

function fingerprint(publicKeyFile: string): string {
  const match = /SHA256:[A-Za-z0-9+/]+/.exec(run("ssh-keygen", ["-lf", publicKeyFile]));
  if (!match) throw new Error(`no fingerprint for ${publicKeyFile}`);
  return match[0];
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.getuid?.() !== 0)
    throw new Error("the SFTP tests create a user and run sshd: run them as root");
  run("bash", [join(import.meta.dirname, "setup-backend.sh")]);

  const dir = await mkdtemp(join(tmpdir(), "sftp-backend-"));
  // The test user must read authorized_keys and traverse to its data folder.
  await chmod(dir, 0o755);
  const keyFile = (name: string) => join(dir, name);

  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile("host_ed25519")]);
  run("ssh-keygen", ["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", keyFile("host_ecdsa")]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile("wrong_host")]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "plain", "-f", keyFile("user_plain")]);
  run("ssh-keygen", [
    "-q",
    "-t",
    "rsa",
    "-b",
    "3072",
    "-N",
    PASSPHRASE,
    "-C",
    "encrypted",
    "-f",
    keyFile("user_encrypted"),
  ]);
  run("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "not-authorized",
    "-f",
    keyFile("user_other"),
  ]);
  const authorized = [
    await readFile(keyFile("user_plain.pub"), "utf8"),
    await readFile(keyFile("user_encrypted.pub"), "utf8"),
  ].join("");
  await writeFile(keyFile("authorized_keys"), authorized, { mode: 0o644 });

  try {
    run("id", [USERNAME]);
  } catch {
    run("useradd", ["--create-home", "--shell", "/usr/sbin/nologin", USERNAME]);
  }
  run("chpasswd", [], `${USERNAME}:${PASSWORD}\n`);

  const dataDir = join(dir, "data");
  await mkdir(dataDir);
  run("chown", [`${USERNAME}:`, dataDir]);
  const readOnlyDir = join(dir, "read-only");
  await mkdir(join(readOnlyDir, "folder"), { recursive: true });
  await writeFile(join(readOnlyDir, "object.txt"), "read only\n");
  await chmod(readOnlyDir, 0o755);

  const port = await freePort();
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const config = [
    `ListenAddress 127.0.0.1`,
    `HostKey ${keyFile("host_ed25519")}`,
    `HostKey ${keyFile("host_ecdsa")}`,
    `PidFile ${keyFile("sshd.pid")}`,
    "StrictModes no",
    `AuthorizedKeysFile ${keyFile("authorized_keys")}`,
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "UsePAM no",
    `AllowUsers ${USERNAME}`,
    "Subsystem sftp internal-sftp",
    "MaxStartups 100:30:200",
    "MaxAuthTries 10",
    "LogLevel INFO",
  ].join("\n");
  await writeFile(keyFile("sshd_config"), `${config}\n`);

  const log: string[] = [];
  const sshd = spawn(
    "/usr/sbin/sshd",
    ["-D", "-e", "-f", keyFile("sshd_config"), "-p", String(port)],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  sshd.stderr?.setEncoding("utf8");
  sshd.stderr?.on("data", (text: string) => {
    log.push(text);
    if (log.length > 2000) log.splice(0, 1000);
  });
  await waitForPort(port, sshd, log);

  const scan = run("ssh-keyscan", ["-p", String(port), "127.0.0.1"]);
  const knownHosts = scan
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .join("\n");
  const ecdsaOnly = knownHosts
    .split("\n")
    .filter((line) => line.includes("ecdsa-sha2-nistp256"))
    .join("\n");
  const wrongKey = (await readFile(keyFile("wrong_host.pub"), "utf8"))
    .split(" ")
    .slice(0, 2)
    .join(" ");
  const secrets = {
    password: PASSWORD,
    wrongPassword: "not-the-password",
    privateKey: await readFile(keyFile("user_plain"), "utf8"),
    encryptedKey: await readFile(keyFile("user_encrypted"), "utf8"),
    passphrase: PASSPHRASE,
    otherKey: await readFile(keyFile("user_other"), "utf8"),
    knownHosts: `${knownHosts}\n`,
    knownHostsEcdsaOnly: `# only the ECDSA key, so the client must not settle on ed25519\n${ecdsaOnly}\n`,
    knownHostsWrong: `[127.0.0.1]:${port} ${wrongKey}\n`,
  };
  const secretDir = join(dir, "secrets");
  await mkdir(secretDir, { mode: 0o700 });
  const files = {} as SftpBackend["files"];
  for (const [name, value] of Object.entries(secrets)) {
    const path = join(secretDir, name);
    await writeFile(path, value, { mode: 0o600 });
    files[name as keyof SftpBackend["files"]] = path;
  }

  project.provide("sftp", {
    host: "127.0.0.1",
    port,
    sshdPid: sshd.pid ?? 0,
    username: USERNAME,
    password: PASSWORD,
    dataDir,
    readOnlyDir,
    files,
    fingerprints: {
      ed25519: fingerprint(keyFile("host_ed25519.pub")),
      ecdsa: fingerprint(keyFile("host_ecdsa.pub")),
      wrong: fingerprint(keyFile("wrong_host.pub")),
    },
  });

  return async () => {
    sshd.kill("SIGTERM");
    await new Promise((resolve) => {
      if (sshd.exitCode !== null) resolve(undefined);
      else sshd.once("exit", resolve);
    });
    await rm(dir, { recursive: true, force: true });
  };
}
