#!/usr/bin/env node
// Entry point for `npx channeld …`; the compiled CLI lives in dist/ (built by
// `npm ci` through the prepare script).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`channeld: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
