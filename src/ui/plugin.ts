// Serves the web UI: one HTML document (scripts and styles inlined at build
// time by src/ui/build.mjs, so a page costs the document plus one GraphQL
// request) for every UI page. UI pages live under names no channel can take
// (/, /login, /channels/…, /settings/…), so they never collide with
// /<channel>/<subdir>/… paths.
//
// Every UI answer carries a Content-Security-Policy that allows exactly the
// document's own inline script and style (by hash, computed from the built
// file at start-up, so no 'unsafe-inline'), requests to this origin, and no
// framing; plus nosniff and a referrer policy that keeps paths on this site.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the build writes the UI (dist/ui), next to this compiled file. */
export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/ui');

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The security headers of a UI page whose inline blocks are those of `html` (null: no page, only text). */
export function uiSecurityHeaders(html: string | null): Record<string, string> {
  const inline = (tag: string) =>
    html === null ? [] : [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => sha256(m[1]!));
  const scripts = inline('script');
  const styles = inline('style');
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.length ? scripts.join(' ') : "'none'"}`,
    `style-src ${styles.length ? styles.join(' ') : "'none'"}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
  };
}

export async function uiRoutes(app: FastifyInstance): Promise<void> {
  const document = path.join(UI_DIR, 'index.html');
  const built = fs.existsSync(document);
  const headers = uiSecurityHeaders(built ? fs.readFileSync(document, 'utf8') : null);
  // preCompressed: the build writes .br/.gz copies beside the document.
  await app.register(fastifyStatic, { root: built ? UI_DIR : path.dirname(UI_DIR), serve: false, preCompressed: true });
  const page = async (_req: unknown, reply: FastifyReply) => {
    reply.headers(headers);
    if (!built) {
      return reply.code(503).type('text/plain').send('The web UI is not built: run `npm run build`.');
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  };
  for (const url of ['/', '/login', '/channels/*', '/settings/*']) app.get(url, page);
}
