#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { addCommands } from "./cli/commands.js";
import { EXIT, helpAfter, UsageError } from "./cli/common.js";
import { addRegistrationCommands } from "./cli/registration.js";
import { ArtifactClientError, errorText } from "./errors.js";

// Prose is one line per paragraph: commander wraps it to the terminal.
const program = new Command("artifact-client")
  .description(
    `Talks to an Argo Workflows artifact driver plugin over its Unix socket, the way Argo's executor and argo-server do (gRPC service artifact.ArtifactService). Use it to try a plugin by hand, then to register it in Argo (manifests) and to check workflows offline (validate).

The commands that call a plugin take the socket (--socket), the plugin configuration (--config <file> or --config-text <text>) and, except caps, an artifact key (--key). Results go to stdout; summaries, progress and errors go to stderr.`,
  )
  .version(packageVersion(), "-V, --version")
  .showHelpAfterError("(run with --help for usage and examples)")
  .exitOverride()
  .addHelpText(
    "after",
    helpAfter(
      [
        'Run "artifact-client <command> --help" for the options and examples of a command.',
        "Exit status: 0 success; 1 the call failed (the plugin's message is printed); 2 wrong usage; 3 no plugin accepted a connection on the socket.",
      ],
      `Examples:
  # Start a plugin on a socket (here the local reference plugin of this
  # repository, which keeps objects under the folder named by "root"):
  node drivers/local/dist/main.js /tmp/local.sock &

  # Upload a file, list the folder, read the file back:
  artifact-client save --socket /tmp/local.sock \\
      --config-text 'root: /tmp/store' --key demo/hello.txt --path ./hello.txt
  artifact-client ls --socket /tmp/local.sock \\
      --config-text 'root: /tmp/store' --key demo
  artifact-client cat --socket /tmp/local.sock \\
      --config-text 'root: /tmp/store' --key demo/hello.txt

  # Keep the socket in the environment and the configuration in a file:
  export ARTIFACT_CLIENT_SOCKET=/tmp/local.sock
  echo 'root: /tmp/store' > local.yaml
  artifact-client caps
  tar czf - ./out | artifact-client put --config local.yaml --key demo/out.tgz`,
    ),
  );

addCommands(program);
addRegistrationCommands(program);

function packageVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

async function main(): Promise<void> {
  try {
    await program.parseAsync();
  } catch (error) {
    process.exitCode = exitStatus(error);
  }
}

function exitStatus(error: unknown): number {
  // Commander has already printed its own message (or the help / version, status 0).
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT.usage;
  const command = process.argv[2] ?? "";
  if (error instanceof UsageError) {
    process.stderr.write(`artifact-client ${command}: ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof ArtifactClientError) {
    // The plugin's own message, as Argo would show it; the RPC and status only add context.
    const context =
      error.kind === "status"
        ? ` (${error.operation} ended with gRPC status ${error.codeName})`
        : "";
    process.stderr.write(`artifact-client ${command} failed${context}: ${error.message}\n`);
    return error.kind === "unavailable" ? EXIT.unavailable : EXIT.failed;
  }
  process.stderr.write(`artifact-client ${command}: ${errorText(error)}\n`);
  return EXIT.failed;
}

await main();
