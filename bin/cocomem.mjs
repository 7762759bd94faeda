#!/usr/bin/env node
// Runs the TypeScript CLI under tsx's loader so the bin needs no build step. It runs in this very
// process, not a child: a signal sent to `cocomem` (Ctrl-C, SIGTERM, SIGHUP) reaches the CLI, which
// ends the run with a verdict, and a `kill -9` leaves nothing behind (party processes exit when
// their IPC channel closes).
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

// By absolute URL: a bare `tsx` would resolve from the user's directory. Importing it registers its
// loader for everything imported after it, as `node --import tsx` would.
await import(pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href);
const { program } = await import(new URL("../src/cli/main.ts", import.meta.url).href);
program(process.argv.slice(2));
