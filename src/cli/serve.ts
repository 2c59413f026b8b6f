// `channeld serve`: one server per data folder (a pid file guards it), the
// first-start admin key, and graceful shutdown on SIGTERM/SIGINT: stop
// accepting, let in-flight uploads finish, drain the indexer, close the
// database. Errors that escape everything are logged through the server's
// logger (keys redacted like every line): an uncaught exception at fatal
// level, then the process exits non-zero; an unhandled rejection at error
// level.
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp } from '../app.js';
import type { Config } from '../config.js';

export async function serve(config: Config): Promise<number> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const pidFile = path.join(config.dataDir, 'channeld.pid');
  if (!claimPidFile(pidFile)) {
    process.stderr.write(`channeld: another server is running on ${config.dataDir} (see ${pidFile})\n`);
    return 1;
  }
  const app = await buildApp(config);
  installFaultHandlers(app.log, pidFile);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    app.close().then(
      () => {
        fs.rmSync(pidFile, { force: true });
        process.exit(0);
      },
      (err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  await app.ready();
  if (config.bootstrapAdmin) {
    const token = await app.core.users.bootstrapAdmin();
    if (token) {
      // Printed once, on stdout, never logged.
      process.stdout.write(
        `\nchanneld: created user 'admin'. Its API key (shown only now, store it safely):\n\n  ${token}\n\n`,
      );
    }
  }
  await app.listen({ host: config.host, port: config.port });
  return new Promise<number>(() => {}); // runs until a signal stops it
}

/**
 * After an uncaught exception the process's state is unknown (a half-done
 * write, a lock never released), so it does not go on serving: the error is
 * logged, the log flushed, and the process exits 1 for its supervisor to
 * restart it (start-up recovery settles what was in flight). An unhandled
 * rejection is a bug to hear about but leaves no state behind: logged at
 * error level, the server keeps running. Both log lines name the event
 * (`uncaughtException`, `unhandledRejection`), which is what the hostile
 * suite's harness looks for.
 */
function installFaultHandlers(log: FastifyBaseLogger, pidFile: string): void {
  let exiting = false;
  process.on('uncaughtException', (err, origin) => {
    if (exiting) return;
    exiting = true;
    log.fatal({ err, origin }, 'uncaughtException: exiting, the process cannot be trusted after one');
    process.exitCode = 1;
    try {
      fs.rmSync(pidFile, { force: true });
    } catch {
      // left for the next start, which recognises a dead owner's pid file
    }
    const exit = () => process.exit(1);
    // A log that cannot be flushed must not keep a broken process alive.
    setTimeout(exit, 2000).unref();
    const flush = (log as { flush?: (cb?: (err?: Error) => void) => void }).flush;
    if (typeof flush === 'function') flush.call(log, exit);
    else exit();
  });
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandledRejection: a promise failed and nothing handled it');
  });
}

function claimPidFile(file: string): boolean {
  // Created exclusively, so two servers started together cannot both win.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    // Our own pid is a predecessor's: a container's server is PID 1 on every
    // start, so after a SIGKILL the file names the pid we now have.
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) return false;
    fs.rmSync(file, { force: true }); // left by a server that died
  }
  return false;
}

/** Is a channeld server running as `pid`? (A reused pid of another program does not count.) */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('channeld');
  } catch {
    return true; // no /proc: trust the signal check
  }
}
