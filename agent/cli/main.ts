#!/usr/bin/env node
// awsvpcd: the daemon and its client commands (declared in cli.ts). The exit code is set, not forced, so
// everything written to stdout and stderr is flushed first.
import { cli } from './cli.js';

cli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
