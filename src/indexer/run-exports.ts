// run_exports.json (CEP-12), pure and streamed like repodata.json:
//   {"info":{"subdir":S,"version":1},"packages":{fn:{"run_exports":…}},"packages.conda":{…}}
// Every package is listed, {} when it has none; the value is the package's
// info/run_exports.json as it is (CEP-12 forbids patching it).
import { canonicalJson } from './repodata.js';

export interface RunExportsEntry {
  filename: string;
  runExportsJson: string | null;
}

function runExportsOf(text: string | null): unknown {
  if (text === null) return {};
  try {
    return JSON.parse(text) ?? {};
  } catch {
    return {};
  }
}

/** `tarBz2` then `conda`, each already in filename order (as the database streams them). */
export function* runExportsChunks(subdir: string, sources: { tarBz2: Iterable<RunExportsEntry>; conda: Iterable<RunExportsEntry> }): Generator<string> {
  let buf = `{"info":${canonicalJson({ subdir, version: 1 })},"packages":{`;
  const map = function* (entries: Iterable<RunExportsEntry>): Generator<string> {
    let first = true;
    for (const e of entries) {
      buf += `${first ? '' : ','}${canonicalJson(e.filename)}:${canonicalJson({ run_exports: runExportsOf(e.runExportsJson) })}`;
      first = false;
      if (buf.length >= 64 * 1024) {
        yield buf;
        buf = '';
      }
    }
  };
  yield* map(sources.tarBz2);
  buf += '},"packages.conda":{';
  yield* map(sources.conda);
  buf += '}}';
  yield buf;
}
