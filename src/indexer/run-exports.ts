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

const runExportsEntry = (e: RunExportsEntry) => `${canonicalJson(e.filename)}:${canonicalJson({ run_exports: runExportsOf(e.runExportsJson) })}`;
const head = (subdir: string) => `{"info":${canonicalJson({ subdir, version: 1 })},"packages":{`;

/** `tarBz2` then `conda`, each already in filename order (as the database streams them), in batches. */
export async function* runExportsChunksFromBatches(
  subdir: string,
  sources: { tarBz2: AsyncIterable<readonly RunExportsEntry[]>; conda: AsyncIterable<readonly RunExportsEntry[]> },
): AsyncGenerator<string> {
  let buf = head(subdir);
  for (const [i, source] of [sources.tarBz2, sources.conda].entries()) {
    if (i === 1) buf += '},"packages.conda":{';
    let first = true;
    for await (const batch of source) {
      for (const e of batch) {
        buf += (first ? '' : ',') + runExportsEntry(e);
        first = false;
      }
      if (buf.length >= 64 * 1024) {
        yield buf;
        buf = '';
      }
    }
  }
  yield `${buf}}}`;
}
