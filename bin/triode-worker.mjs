#!/usr/bin/env node
// The `triode-worker` command (src/remote/cli.ts): serves a RemotePool's jobs on this machine.
import { main } from '../dist/remote-cli.js';

process.exitCode = await main(process.argv.slice(2));
