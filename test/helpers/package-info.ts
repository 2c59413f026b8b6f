// The fixtures' expected index.json, and info/about.json of package files as conda itself reads them
// (conda-package-streaming, Debian's python3-conda-package-streaming), so
// what the server reports can be checked against a reader it does not share.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixturesDir } from './paths.js';

const PYTHON = String.raw`
import json, sys
from conda_package_streaming import package_streaming

out = {}
for path in json.load(sys.stdin):
    about = None
    for tar, member in package_streaming.stream_conda_info(path):
        if member.name in ("info/about.json", "./info/about.json"):
            about = json.load(tar.extractfile(member))
    out[path] = about
json.dump(out, sys.stdout)
`;

/** about.json (or null when the package has none) per file path. */
export function aboutJsonOf(files: string[]): Promise<Map<string, Record<string, unknown> | null>> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', ['-c', PYTHON], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`conda-package-streaming failed: ${err.message}\n${stderr}`));
      resolve(new Map(Object.entries(JSON.parse(stdout) as Record<string, Record<string, unknown> | null>)));
    });
    child.stdin!.end(JSON.stringify(files));
  });
}

/** fixtures/expected-index.jsonl: each fixture's exact info/index.json, by path under fixtures/. */
export function expectedIndexJson(): Map<string, Record<string, unknown>> {
  const lines = fs.readFileSync(path.join(fixturesDir, 'expected-index.jsonl'), 'utf8').trim().split('\n');
  return new Map(lines.map((l) => {
    const row = JSON.parse(l) as { path: string; index: Record<string, unknown> };
    return [path.join(fixturesDir, row.path), row.index];
  }));
}
