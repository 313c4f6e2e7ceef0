#!/usr/bin/env node
// The `artifact-client` command. pnpm links bins when it installs, before
// anything is built, so the link points here and the CLI is loaded from the
// build at run time.
await import("../dist/main.js");
