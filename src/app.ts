// buildApp(config): the Fastify instance with every route, used by the
// server, the tests and the benchmarks alike. It never listens.
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { createCore, type Core } from './core/core.js';
import { loggerOptions } from './logger.js';
import { graphqlRoutes } from './graphql/index.js';
import { createAuthLimiter } from './rest/auth-limiter.js';
import { registerErrorHandlers } from './rest/errors.js';
import { urlTokens } from './rest/principal.js';
import { sessionRoutes } from './rest/session.js';
import { uiRoutes } from './ui/plugin.js';
import { fileRoutes } from './rest/files.js';
import { manageRoutes } from './rest/manage.js';
import { oidcRoutes } from './rest/oidc.js';
import { uploadRoutes } from './rest/upload.js';

declare module 'fastify' {
  interface FastifyInstance {
    core: Core;
  }
}

export interface BuildOptions {
  /** Pino logger options, or false to silence (tests). Default: from config. */
  logger?: boolean | object;
  /** Run start-up recovery and the background indexer (default true). */
  background?: boolean;
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config.logLevel),
    // Uploads stream for as long as they keep sending; a stalled one is cut
    // after a minute of silence.
    connectionTimeout: 60_000,
    requestTimeout: 0,
    bodyLimit: 1 << 20,
    return503OnClosing: true,
    // Start-up brings every index up to date before listening; a large subdir
    // left dirty (an upgrade, a crash mid-pass) takes longer than the default
    // 10 s plugin timeout (~21 s for a 465k-record first build).
    pluginTimeout: 0,
    // A request Node cannot parse (e.g. the client closed before sending
    // Content-Length bytes) still gets our error format, if anyone listens.
    clientErrorHandler: (err, socket) => {
      const body = JSON.stringify({ error: 'BAD_REQUEST', message: 'the request was malformed or ended early' });
      if (socket.writable) {
        socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      } else {
        socket.destroy(err);
      }
    },
    forceCloseConnections: 'idle',
    trustProxy: config.trustProxy,
    // conda sends keys as a URL prefix: /t/<key>/<channel>/<subdir>/<file>.
    // The prefix is taken off before routing and the key kept for auth.
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      const m = /^\/t\/([^/]+)(\/.*)$/.exec(url);
      if (!m) return url;
      urlTokens.set(req, decodeURIComponent(m[1]!));
      return m[2]!;
    },
  });
  const core = await createCore(config, app.log);
  app.decorate('core', core);
  registerErrorHandlers(app);
  await app.register(cookie);
  core.auth.useLimiter(await createAuthLimiter(app, { maxFailures: config.authFailuresPerMinute, windowMs: 60_000 }));

  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(uploadRoutes, { core });
  await app.register(manageRoutes, { core });
  await app.register(oidcRoutes, { core });
  await app.register(graphqlRoutes, { core, graphiql: config.graphiql });
  await app.register(sessionRoutes, { core });
  await app.register(uiRoutes);
  await app.register(fileRoutes, { core });

  if (opts.background ?? true) {
    app.addHook('onReady', async () => {
      await core.startBackground();
    });
  }
  // On close Fastify stops accepting and waits for in-flight requests; a
  // keep-alive connection that goes idle after its upload finishes would
  // otherwise hold the close open until its keep-alive timeout.
  let idleSweep: NodeJS.Timeout | null = null;
  app.addHook('preClose', async () => {
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 200);
  });
  // In-flight requests have finished by now; then the indexer drains and the
  // database closes.
  app.addHook('onClose', async () => {
    if (idleSweep) clearInterval(idleSweep);
    await core.close();
  });
  return app;
}
