// The hostile-request suite's server: a real `channeld serve` child process,
// so a request that would end the process is seen to end it (an in-process
// server would take the test runner down with it, or hide the exit).
// After every attack a test calls `assertHealthy()`: the process is alive,
// /healthz answers 200, and nothing it wrote says an error escaped request
// handling.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { assertRepodataReadable } from '../helpers/repodata-check.js';
import { spawnServer, tempDataDir, waitFor, type ChildServer } from '../helpers/server.js';

export interface HostileServer {
  url: string;
  dataDir: string;
  /** The first-start admin's API key (from the server's own output). */
  adminKey: string;
  server: ChildServer;
  /** The process is alive, /healthz is 200, and no uncaught error reached its output. */
  assertHealthy(): Promise<void>;
  stop(): Promise<void>;
}

// Node's own report of an escaped error, V8's and the kernel's, and the lines
// serve.ts's process handlers log for one (a fatal-level line, or an error
// line named after the event): `"msg":"uncaughtException: …"` at level 60,
// `"msg":"unhandledRejection: …"` at level 50.
const ESCAPED = /uncaughtException|unhandledRejection|UnhandledPromiseRejection|FATAL ERROR|Segmentation fault|"level":60\b/i;

/** The output's first sign of an error that escaped request handling, if any. */
export function escapedError(output: string): string | null {
  return ESCAPED.exec(output)?.[0] ?? null;
}

export async function startHostileServer(env: Record<string, string> = {}, opts: { dataDir?: string } = {}): Promise<HostileServer> {
  const dataDir = opts.dataDir ?? tempDataDir('channeld-hostile-');
  const server = await spawnServer(dataDir, { CHANNELD_LOG_LEVEL: 'info', ...env });
  const adminKey = await waitFor(async () => /pfx_[A-Za-z0-9]{52}/.exec(server.output())?.[0], 10_000);
  return {
    url: server.url,
    dataDir,
    adminKey,
    server,
    async assertHealthy() {
      assert.equal(server.child.exitCode, null, `server exited:\n${server.output().slice(-4000)}`);
      assert.equal(server.child.signalCode, null, `server was killed:\n${server.output().slice(-4000)}`);
      const r = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      assert.equal(escapedError(server.output()), null, `an error escaped request handling:\n${server.output().slice(-4000)}`);
    },
    async stop() {
      await server.stop();
      assertRepodataReadable(dataDir);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every package file stored under a channel of a folder-store data dir (empty on other stores). */
export function storedPackageFiles(dataDir: string, channel: string): string[] {
  const root = path.join(dataDir, 'channels', channel);
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /\.(conda|tar\.bz2)$/.test(d.name))
    .map((d) => path.join(d.parentPath, d.name));
}
