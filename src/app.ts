// buildApp(config): the Fastify instance with every route, used by the
// server, the tests and the benchmarks alike. It never listens.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { createCore, type Core } from './core/core.js';
import { loggerOptions } from './logger.js';
import { graphqlRoutes } from './graphql/index.js';
import { registerErrorHandlers } from './rest/errors.js';
import { fileRoutes } from './rest/files.js';
import { manageRoutes } from './rest/manage.js';
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
    forceCloseConnections: 'idle',
    trustProxy: false,
  });
  const core = createCore(config, app.log);
  app.decorate('core', core);
  registerErrorHandlers(app);

  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(uploadRoutes, { core });
  await app.register(manageRoutes, { core });
  await app.register(graphqlRoutes, { core, graphiql: config.graphiql });
  await app.register(fileRoutes, { core });

  if (opts.background ?? true) {
    app.addHook('onReady', async () => {
      await core.startBackground();
    });
  }
  // In-flight requests have finished by now (Fastify waits for them); then
  // the indexer drains and the database closes.
  app.addHook('onClose', async () => {
    await core.close();
  });
  return app;
}
