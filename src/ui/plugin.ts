// Serves the web UI: one HTML document (scripts and styles inlined at build
// time by src/ui/build.mjs, so a page costs the document plus one GraphQL
// request) for every UI page. UI pages live under names no channel can take
// (/, /login, /channels/…, /settings/…), so they never collide with
// /<channel>/<subdir>/… paths.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the build writes the UI (dist/ui), next to this compiled file. */
export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/ui');

export async function uiRoutes(app: FastifyInstance): Promise<void> {
  const built = fs.existsSync(path.join(UI_DIR, 'index.html'));
  // preCompressed: the build writes .br/.gz copies beside the document.
  await app.register(fastifyStatic, { root: built ? UI_DIR : path.dirname(UI_DIR), serve: false, preCompressed: true });
  const page = async (_req: unknown, reply: FastifyReply) => {
    if (!built) {
      return reply.code(503).type('text/plain').send('The web UI is not built: run `npm run build`.');
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  };
  for (const url of ['/', '/login', '/channels/*', '/settings/*']) app.get(url, page);
}
