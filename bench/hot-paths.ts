// This checkout against another one (a built checkout of an earlier commit:
// `git worktree add ../base REV && ln -s "$PWD/node_modules" ../base/ &&
// (cd ../base && npm run build)`), on the paths a refactor must not slow:
//   upload+index  every fixture package POSTed raw (ingest, metadata read,
//                 record, claim, move) until noarch/repodata.json lists them all
//                 (debounce, full pass, publish);
//   repodata GET  400 GETs of noarch/repodata.json, every other one gzip;
//   package GET   200 GETs of package files.
// Each round runs both servers one after the other, their order alternating,
// on fresh data folders; the figures are per-phase medians and this / base.
//
//   node --import tsx bench/hot-paths.ts --base=DIR [--quick]
import fs from 'node:fs';
import path from 'node:path';
import { fixturePackages } from '../test/helpers/fixtures.js';
import { spawnServer, waitFor } from '../test/helpers/server.js';
import { benchTempDir, log, printResultJson, printTable, round, runBench } from './lib/common.js';

const argv = process.argv.slice(2);
const baseArg = argv.find((a) => a.startsWith('--base='));
const quick = argv.includes('--quick');
if (!baseArg || argv.some((a) => a !== baseArg && a !== '--quick')) {
  process.stderr.write('usage: node --import tsx bench/hot-paths.ts --base=DIR [--quick]\n');
  process.exit(2);
}
const baseEntry = path.resolve(baseArg.slice('--base='.length), 'bin/channeld.js');
if (!fs.existsSync(baseEntry)) throw new Error(`${baseEntry}: not a checkout`);
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'bin/channeld.js');
const ROUNDS = quick ? 3 : 7;
type Phase = 'upload+index' | 'repodata GET' | 'package GET';

async function scenario(entry: string): Promise<Record<Phase, number>> {
  const server = await spawnServer(path.join(benchTempDir('channeld-bench-hot-'), 'data'), {}, entry);
  try {
    const key = await waitFor(async () => /pfx_[A-Za-z0-9]{52}/.exec(server.output())?.[0], 10_000);
    const auth = { authorization: `Bearer ${key}` };
    const made = await fetch(`${server.url}/api/graphql`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { createChannel(name: "hot", isPublic: true) { channel { name } } }' }),
    });
    if (!(await made.text()).includes('"hot"')) throw new Error('createChannel failed');
    const listed: string[] = [];
    let t = performance.now();
    for (const p of fixturePackages()) {
      const r = await fetch(`${server.url}/api/v1/upload/hot`, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream', 'x-file-name': p.filename }, body: fs.readFileSync(p.file),
      });
      await r.text();
      if (r.status === 200 && p.folder === 'noarch') listed.push(p.filename);
    }
    await waitFor(async () => {
      const text = await (await fetch(`${server.url}/hot/noarch/repodata.json`)).text();
      return listed.every((f) => text.includes(f));
    }, 60_000, 5);
    const upload = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < 400; i++) {
      await (await fetch(`${server.url}/hot/noarch/repodata.json`, { headers: { 'accept-encoding': i % 2 ? 'gzip' : 'identity' } })).arrayBuffer();
    }
    const repodata = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < 200; i++) await (await fetch(`${server.url}/hot/noarch/${listed[i % listed.length]}`)).arrayBuffer();
    return { 'upload+index': upload, 'repodata GET': repodata, 'package GET': performance.now() - t };
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

runBench('hot-paths', 15 * 60_000, async () => {
  const runs: Record<'this' | 'base', Array<Record<Phase, number>>> = { this: [], base: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order: Array<'this' | 'base'> = r % 2 === 0 ? ['this', 'base'] : ['base', 'this'];
    for (const which of order) runs[which].push(await scenario(which === 'this' ? here : baseEntry));
    log(`round ${r + 1}/${ROUNDS} done`);
  }
  const phases: Phase[] = ['upload+index', 'repodata GET', 'package GET'];
  const rows = phases.map((p) => {
    const a = median(runs.this.map((x) => x[p]));
    const b = median(runs.base.map((x) => x[p]));
    return [p, round(b, 0), round(a, 0), round(a / b, 2)];
  });
  printTable(`Hot paths, this checkout vs ${path.dirname(path.dirname(baseEntry))} (median of ${ROUNDS} alternating rounds, ms)`, ['phase', 'base', 'this', 'this / base'], rows);
  printResultJson('hot-paths', { quick, sizes: null }, Object.fromEntries(rows.map((r) => [r[0], { baseMs: r[1], thisMs: r[2], ratio: r[3] }])));
});
