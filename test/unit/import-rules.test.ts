// The README's "How it is built", as rules over the code's own import graph
// (every `import`/`export … from`/`import()` of src/, type-only ones too:
// a type import is a door between rooms as much as a value import).
// Read with TypeScript's own pre-processor, so what counts as an import is
// what the compiler sees. A rule broken anywhere fails the test with the
// files and the import; there is no list of tolerated exceptions.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const src = path.join(root, 'src');

/** src-relative path → the src-relative paths it imports (npm packages left out). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = fs.readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|mts)$/.test(f) && !f.endsWith('.d.ts'));
  for (const rel of files) {
    const text = fs.readFileSync(path.join(src, rel), 'utf8');
    const info = ts.preProcessFile(text, true, true);
    const targets = info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'))
      .map((spec) => resolve(rel, spec))
      .filter((t): t is string => t !== null);
    graph.set(rel.split(path.sep).join('/'), [...new Set(targets)]);
  }
  return graph;
}

function resolve(fromRel: string, spec: string): string | null {
  const abs = path.resolve(path.dirname(path.join(src, fromRel)), spec);
  for (const candidate of [abs.replace(/\.js$/, '.ts'), abs.replace(/\.mjs$/, '.mts'), abs, `${abs}.ts`, path.join(abs, 'index.ts')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
      const rel = path.relative(src, candidate).split(path.sep).join('/');
      return rel.startsWith('..') ? null : rel;
    }
  }
  return null; // a generated or non-TypeScript file (the UI bundle): not a room
}

interface Rule {
  name: string;
  /** Does an import from `from` to `to` break the rule? */
  breaks(from: string, to: string): boolean;
}

const under = (file: string, ...prefixes: string[]) => prefixes.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));
const DB_ADAPTERS = ['db/sqlite/', 'db/postgres/'];
const STORAGE_ADAPTERS = ['storage/fs-object-store.ts', 'storage/s3-object-store.ts'];
/** The ground floor: the error catalogue, the config, the logger and the domain's types. */
const KERNEL = ['errors.ts', 'config.ts', 'logger.ts', 'types.ts'];
const adapterOf = (file: string) => [...DB_ADAPTERS, ...STORAGE_ADAPTERS].find((p) => under(file, p)) ?? null;

const RULES: Rule[] = [
  {
    name: 'REST and GraphQL are two transports side by side: neither imports the other',
    breaks: (from, to) => (under(from, 'graphql/') && under(to, 'rest/')) || (under(from, 'rest/') && under(to, 'graphql/')),
  },
  {
    name: 'transports (rest, graphql, ui) import only core, auth, the kernel and their own room',
    breaks: (from, to) => {
      const room = ['rest/', 'graphql/', 'ui/'].find((r) => from.startsWith(r));
      return room !== undefined && !under(to, room, 'core/', 'auth/', ...KERNEL);
    },
  },
  {
    name: 'core imports interfaces, never an adapter',
    breaks: (from, to) => under(from, 'core/') && adapterOf(to) !== null,
  },
  {
    name: 'no adapter imports another',
    breaks: (from, to) => adapterOf(from) !== null && adapterOf(to) !== null && adapterOf(from) !== adapterOf(to),
  },
  {
    name: 'only src/db reaches a database adapter, only src/storage a storage adapter',
    breaks: (from, to) => (under(to, ...DB_ADAPTERS) && !under(from, 'db/')) || (under(to, ...STORAGE_ADAPTERS) && !under(from, 'storage/')),
  },
  {
    name: 'the kernel (errors, config, logger, the domain types) imports only the kernel',
    breaks: (from, to) => under(from, ...KERNEL) && !under(to, ...KERNEL),
  },
  {
    name: 'core drives the indexer, the repositories, storage and auth: none of them imports core',
    breaks: (from, to) => under(from, 'indexer/', 'db/', 'storage/', 'auth/') && under(to, 'core/'),
  },
  {
    name: 'src/conda (the package format) imports no other room but the error catalogue',
    breaks: (from, to) => under(from, 'conda/') && !under(to, 'conda/', 'errors.ts'),
  },
];

/** Strongly connected components of more than one file (Tarjan), each sorted. */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the import graph keeps the rooms of the README', () => {
  const graph = importGraph();

  it('reads the whole of src/ (a resolver that lost imports would pass every rule)', () => {
    assert.ok(graph.size > 100, `${graph.size} files`);
    assert.ok(graph.get('app.ts')!.includes('core/core.ts'), 'app.ts imports core/core.ts');
    assert.ok([...graph.values()].flat().length > 400, 'hundreds of imports');
  });

  for (const rule of RULES) {
    it(rule.name, () => {
      const broken = [...graph].flatMap(([from, tos]) => tos.filter((to) => rule.breaks(from, to)).map((to) => `${from} -> ${to}`));
      assert.deepEqual(broken, [], `${rule.name}:\n  ${broken.join('\n  ')}`);
    });
  }

  it('transports use core\'s services, never what is beneath them (core.repos, core.store, core.readCache)', () => {
    const reaching = [...graph.keys()].filter((f) => under(f, 'rest/', 'graphql/', 'ui/'))
      .flatMap((f) => [...fs.readFileSync(path.join(src, f), 'utf8').matchAll(/\bcore\s*\.\s*(repos|store|readCache)\b/g)].map((m) => `${f}: core.${m[1]}`));
    assert.deepEqual(reaching, []);
  });

  it('has no circles', () => {
    const found = circles(graph);
    assert.deepEqual(found, [], found.map((c) => c.join(' <-> ')).join('\n'));
  });

  it('the rules and the circle check catch what they are for', () => {
    // Each rule against an import it exists to refuse, and one it allows.
    const cases: Array<[number, string, string, boolean]> = [
      [0, 'graphql/context.ts', 'rest/principal.ts', true],
      [0, 'rest/files.ts', 'core/core.ts', false],
      [1, 'graphql/loaders.ts', 'db/sqlite/catalog.ts', true],
      [1, 'rest/send-file.ts', 'storage/object-store.ts', true],
      [1, 'rest/manage.ts', 'conda/subdirs.ts', true],
      [1, 'graphql/loaders.ts', 'core/catalog.ts', false],
      [1, 'graphql/loaders.ts', 'types.ts', false],
      [1, 'rest/errors.ts', 'errors.ts', false],
      [2, 'core/core.ts', 'db/sqlite/index.ts', true],
      [2, 'core/core.ts', 'db/index.ts', false],
      [3, 'db/postgres/users.ts', 'db/sqlite/users.ts', true],
      [3, 'db/postgres/users.ts', 'db/postgres/database.ts', false],
      [4, 'indexer/full-pass-worker.ts', 'db/sqlite/index-state.ts', true],
      [4, 'db/index.ts', 'db/sqlite/index-state.ts', false],
      [5, 'config.ts', 'core/types.ts', true],
      [5, 'config.ts', 'types.ts', false],
      [6, 'indexer/collector.ts', 'core/packages.ts', true],
      [6, 'db/repositories.ts', 'types.ts', false],
      [6, 'auth/authenticate.ts', 'core/window-counter.ts', true],
      [7, 'conda/package-reader.ts', 'indexer/zstd-frames.ts', true],
      [7, 'conda/package-reader.ts', 'errors.ts', false],
    ];
    for (const [rule, from, to, broken] of cases) {
      assert.equal(RULES[rule]!.breaks(from, to), broken, `${RULES[rule]!.name}: ${from} -> ${to}`);
    }
    assert.deepEqual(circles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]])), [['a.ts', 'b.ts', 'c.ts']]);
  });
});
