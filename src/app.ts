// buildApp(config): the Fastify instance with every route, used by the
// server, the tests and the benchmarks alike. It never listens.
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Config } from './config.js';
import { requestPrincipal, splitUrlToken } from './auth/request-principal.js';
import { createCore, type Core } from './core/core.js';
import { errorBody, Errors, rawErrorResponse, type AppError } from './errors.js';
import { loggerOptions } from './logger.js';
import { graphqlRoutes } from './graphql/index.js';
import { installBodyDeadlines } from './rest/body-deadlines.js';
import { registerErrorHandlers } from './rest/errors.js';
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
    // A silent connection is cut after a minute. Headers must arrive within
    // headersTimeoutMs; bodies have their own deadlines (rest/body-deadlines.ts:
    // uploads a minimum rate, the rest a total), so Node's single
    // requestTimeout stays off.
    connectionTimeout: 60_000,
    requestTimeout: 0,
    http: {
      headersTimeout: config.headersTimeoutMs,
      // Node checks header deadlines on this period (default 30 s).
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.headersTimeoutMs / 4))),
    },
    bodyLimit: 1 << 20,
    return503OnClosing: true,
    // Start-up brings every index up to date before listening; a large subdir
    // left dirty (an upgrade, a crash mid-pass) takes longer than the default
    // 10 s plugin timeout (~21 s for a 465k-record first build).
    pluginTimeout: 0,
    // A request Node cannot parse (e.g. the client closed before sending
    // Content-Length bytes, headers over Node's 16 KiB, a header timeout)
    // still gets our error format, if anyone listens.
    clientErrorHandler: (err, socket) => {
      if (socket.writable) {
        socket.end(rawErrorResponse(clientErrorAnswer(err as Error & { code?: string })));
      } else {
        socket.destroy();
      }
    },
    forceCloseConnections: 'idle',
    trustProxy: config.trustProxy,
    // conda sends keys as a URL prefix: /t/<key>/<channel>/<subdir>/<file>.
    // The prefix is taken off before routing; auth/request-principal.ts reads
    // the key from the URL as sent (and answers 400 in onRequest for one
    // that is not valid percent-encoding: a throw here would escape Node's
    // 'request' event and end the process).
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      return splitUrlToken(url)?.path ?? url;
    },
    // Router-level refusals (a path part that is not valid percent-encoding
    // or UTF-8, a parameter over the length limit) in our error format.
    frameworkErrors: (err, request, reply) => {
      const status = err.statusCode ?? 400;
      request.log.info({ code: err.code, status }, 'request refused');
      void (reply as FastifyReply).code(status >= 400 && status < 500 ? status : 400)
        .send(errorBody(new Errors.BAD_REQUEST('the URL is not valid (a malformed percent-escape or an over-long part)')));
    },
  });
  const core = await createCore(config, app.log);
  app.decorate('core', core);
  registerErrorHandlers(app);
  // Before the body deadlines' hooks, so a bad /t/ key is refused first.
  await app.register(requestPrincipal, { auth: core.auth });
  installBodyDeadlines(app, config);
  await app.register(cookie);

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

/** What to answer a request Node's HTTP parser refused (never a 5xx: nothing of ours ran). */
function clientErrorAnswer(err: Error & { code?: string }): AppError {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return new Errors.HEADERS_TOO_LARGE('the request line and headers are larger than this server accepts (16 KiB)');
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT') {
    return new Errors.REQUEST_TIMEOUT('the request did not arrive in time');
  }
  return new Errors.BAD_REQUEST('the request was malformed or ended early');
}
