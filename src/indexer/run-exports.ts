// run_exports.json (CEP-12), pure and built entry by entry like repodata.json:
//   {"info":{"subdir":S,"version":1},"packages":{fn:{"run_exports":…}},"packages.conda":{…}}
// Every package is listed, {} when it has none; the value is the package's
// info/run_exports.json as it is (CEP-12 forbids patching it).
import { canonicalJson } from '../conda/canonical-json.js';

function runExportsOf(text: string | null): unknown {
  if (text === null) return {};
  try {
    return JSON.parse(text) ?? {};
  } catch {
    return {};
  }
}

/**
 * run_exports.json for one subdir, taken in pieces as it grows (take()):
 * add() the `.tar.bz2` entries, startConda(), add() the `.conda` entries,
 * finish(). Entries come in filename order, as the database streams them
 * (the same walk as RepodataText, which checks the order).
 */
export class RunExportsText {
  private text: string;
  private first = true;
  // Builds of one version come one after another (filename order) and
  // usually carry the same run_exports: the last value's entry is reused.
  private lastRaw: string | null | undefined = undefined;
  private lastValue = '';

  constructor(subdir: string) {
    this.text = `{"info":${canonicalJson({ subdir, version: 1 })},"packages":{`;
  }

  /** Characters not yet taken. */
  get length(): number {
    return this.text.length;
  }

  add(filename: string, runExportsJson: string | null): void {
    if (runExportsJson !== this.lastRaw) {
      this.lastRaw = runExportsJson;
      this.lastValue = canonicalJson({ run_exports: runExportsOf(runExportsJson) });
    }
    this.text += (this.first ? '' : ',') + `${canonicalJson(filename)}:${this.lastValue}`;
    this.first = false;
  }

  startConda(): void {
    this.text += '},"packages.conda":{';
    this.first = true;
  }

  finish(): void {
    this.text += '}}';
  }

  take(): string {
    const t = this.text;
    this.text = '';
    return t;
  }
}
