// Builds the web UI into one self-contained document, dist/ui/index.html:
// the bundled, minified script and stylesheet are inlined, so a page costs
// the document plus one GraphQL request, and nothing comes from elsewhere.
// A Content-Security-Policy <meta> allows exactly that script and style (by
// hash) and requests to this origin only. Precompressed .gz/.br copies sit
// beside it for servers that send them.
//
//   node src/ui/build.mjs            (from the repo root; run by `prepare`)
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

const BRAND_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke-width="1.8" stroke-linejoin="round"><path d="M3 7.5 12 3l9 4.5v9L12 21l-9-4.5z"/><path d="M3 7.5 12 12l9-4.5M12 12v9"/></svg>';

const hash = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

async function bundle(entry, loader) {
  const result = await build({
    entryPoints: [path.join(here, 'app', entry)],
    bundle: true,
    minify: true,
    write: false,
    format: loader === 'css' ? undefined : 'iife',
    target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
    platform: 'browser',
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  });
  return result.outputFiles[0].text.trim();
}

/** Builds the UI; returns the written document's path and size. */
export async function buildUi({ outDir = path.join(repoRoot, 'dist/ui') } = {}) {
  const [js, css] = await Promise.all([bundle('main.ts', 'js'), bundle('styles.css', 'css')]);
  // Inside an inline <script>, "</script" would end the element early.
  const script = js.replace(/<\/(script)/gi, '<\\/$1');
  if (/<\/style/i.test(css)) throw new Error('the stylesheet contains "</style"');
  const csp = [
    "default-src 'none'",
    `script-src ${hash(script)}`,
    `style-src ${hash(css)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
  ].join('; ');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="same-origin">
<meta name="color-scheme" content="light dark">
<title>channeld</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><div class="bar"><a class="brand" href="/">${BRAND_ICON}<span>channeld</span></a><div id="user-area" class="user-area"></div></div></header>
<main id="main" tabindex="-1" aria-busy="true"></main>
<footer class="foot">channeld · conda channels · GraphQL API at <code>/api/graphql</code></footer>
<div id="live" class="sr-only" role="status" aria-live="polite"></div>
<script>${script}</script>
</body>
</html>
`;
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'index.html');
  // Write-then-rename, so a running server never reads a half-written file.
  const write = (name, data) => {
    const tmp = `${name}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, name);
  };
  const buf = Buffer.from(html, 'utf8');
  write(`${file}.gz`, zlib.gzipSync(buf, { level: 9 }));
  write(`${file}.br`, zlib.brotliCompressSync(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length } }));
  write(file, buf);
  return { file, bytes: buf.length, csp };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { file, bytes } = await buildUi();
  console.log(`ui: ${path.relative(process.cwd(), file)} (${(bytes / 1024).toFixed(1)} KiB)`);
}
