// Real servers for tests: in-process (buildApp + listen on a loopback port)
// or as a child process running the built CLI (for kill -9 and CLI tests).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Core } from '../../src/core/core.js';
import type { User } from '../../src/types.js';
import { backendEnv, cliDataDir } from './backends.js';
import { cliEntry } from './paths.js';
import { assertRepodataReadable } from './repodata-check.js';

export interface TestServer {
  url: string;
  app: FastifyInstance;
  core: Core;
  dataDir: string;
  admin: User;
  adminKey: string;
  close(): Promise<void>;
}

export function tempDataDir(prefix = 'channeld-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Starts buildApp on 127.0.0.1:<random port> with a fresh data folder and an admin key. */
export async function startServer(opts: { env?: Record<string, string>; dataDir?: string; logger?: boolean } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const config = loadConfig({ CHANNELD_DATA_DIR: dataDir, CHANNELD_BOOTSTRAP_ADMIN: 'false', ...(await backendEnv(dataDir)), ...opts.env });
  const app = await buildApp(config, { logger: opts.logger ?? false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const core = app.core;
  const admin = (await core.repos.users.byLogin('admin')) ?? (await core.users.create('admin', true));
  const { token } = await core.users.createKey(admin, { name: `test-${Date.now()}-${Math.random()}`, expiresAt: null });
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    core,
    dataDir,
    admin,
    adminKey: token,
    async close() {
      await app.close();
      assertRepodataReadable(dataDir);
    },
  };
}

/** Runs the built CLI (`node bin/channeld.js …`) to completion. */
export async function runCli(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...opts.env };
  const backend = await backendEnv(cliDataDir(args, env));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { env: { ...env, ...backend, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

export interface ChildServer {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `channeld serve` as a child process on a free port and waits for
 * /healthz. `entry` runs another checkout's bin/channeld.js (bench A/Bs).
 */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}, entry = cliEntry): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry, 'serve', '--data', dataDir, '--port', String(port)], {
    env: { ...process.env, CHANNELD_LOG_LEVEL: 'warn', ...(await backendEnv(dataDir)), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become healthy:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    output: () => out,
    stop(signal = 'SIGTERM') {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls until fn returns a truthy value (or throws after timeoutMs). */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 5000, stepMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
