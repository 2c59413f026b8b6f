// channeldata.json (CEP-38) at the channel root. buildChanneldata is pure;
// channeldataFromCatalog feeds it from the catalog port. Per package name:
// text fields from its newest version (conda version order, then
// timestamp), install-script flags OR'ed over every build, run_exports by
// version, the newest timestamp in seconds, and the subdirs it is in.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { canonicalJson } from '../conda/canonical-json.js';
import { FLAG_NAMES } from '../conda/post-install-flags.js';
import type { CatalogRepository, ChanneldataAbout, ChanneldataVersion } from '../db/repositories.js';

/** Names handled between two yields to the event loop. */
const YIELD_EVERY = 512;

const TEXT_FIELDS = ['description', 'dev_url', 'doc_url', 'doc_source_url', 'home', 'license', 'source_git_url', 'source_url', 'summary'] as const;

function parse(text: string | null): Record<string, unknown> {
  if (text === null) return {};
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

/**
 * Builds channeldata.json. `newestFirst` orders version strings newest first
 * (conda order); `about` fetches the text fields' source for each name's
 * newest version.
 */
export async function buildChanneldata(
  versions: readonly ChanneldataVersion[],
  newestFirst: (versions: string[]) => string[],
  about: (wanted: Array<{ name: string; version: string }>) => Promise<Map<string, ChanneldataAbout>>,
): Promise<string> {
  const byName = new Map<string, ChanneldataVersion[]>();
  const allSubdirs = new Set<string>();
  for (const v of versions) {
    byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
    for (const s of v.subdirs) allSubdirs.add(s);
  }
  const newest = new Map<string, ChanneldataVersion>();
  let n = 0;
  for (const [name, list] of byName) {
    const top = newestFirst(list.map((v) => v.version))[0]!;
    newest.set(name, list.find((v) => v.version === top)!);
    if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
  }
  const texts = await about([...newest.values()].map((v) => ({ name: v.name, version: v.version })));
  // Serialised entry by entry (names in code-point order, as canonicalJson
  // sorts keys), yielding now and then: at 18k names the document is
  // megabytes and must not hold the event loop.
  let packages = '';
  n = 0;
  for (const [name, list] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const top = newest.get(name)!;
    const src = texts.get(name);
    const aboutObj = parse(src?.aboutJson ?? null);
    const entry: Record<string, unknown> = {};
    // about.json first, then index.json (old packages keep summary/license there).
    const indexObj = parse(src?.indexJson ?? null);
    for (const f of TEXT_FIELDS) {
      const v = typeof aboutObj[f] === 'string' && aboutObj[f] !== '' ? aboutObj[f] : indexObj[f];
      if (typeof v === 'string' && v !== '') entry[f] = v;
    }
    for (const flag of FLAG_NAMES) entry[flag] = list.some((v) => v.flags[flag] === true);
    const runExports: Record<string, unknown> = {};
    for (const v of list) {
      const re = v.runExportsJson === null ? null : (parse(`{"v":${v.runExportsJson}}`).v as unknown);
      if (re && typeof re === 'object') runExports[v.version] = Array.isArray(re) ? { weak: re } : re;
    }
    entry.run_exports = runExports;
    entry.subdirs = [...new Set(list.flatMap((v) => v.subdirs))].sort();
    // In seconds, as CEP-38 wants; 0 when no build has one (as conda-index writes).
    const ts = Math.max(...list.map((v) => v.timestamp));
    entry.timestamp = ts > 253402300799 ? Math.floor(ts / 1000) : ts;
    entry.version = top.version;
    packages += `${packages === '' ? '' : ','}${canonicalJson(name)}:${canonicalJson(entry)}`;
    if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
  }
  return `{"channeldata_version":1,"packages":{${packages}},"subdirs":${canonicalJson([...allSubdirs].sort())}}`;
}

/** The catalog queries channeldata.json is built from. */
export type ChanneldataSource = Pick<CatalogRepository, 'channeldataNames' | 'channeldataVersions' | 'channeldataAbout'>;

/** Reads a channel's names, versions and about.json (a slice of names per query) and builds channeldata.json. */
export async function channeldataFromCatalog(
  catalog: ChanneldataSource,
  channelId: number,
  newestFirst: (versions: string[]) => string[],
  opts: { namesPerRead: number; beforeRead?: () => Promise<void> },
): Promise<string> {
  const names = await catalog.channeldataNames(channelId);
  const versions: ChanneldataVersion[] = [];
  for (let i = 0; i < names.length; i += opts.namesPerRead) {
    await opts.beforeRead?.();
    versions.push(...(await catalog.channeldataVersions(channelId, names.slice(i, i + opts.namesPerRead))));
  }
  return buildChanneldata(versions, newestFirst, async (wanted) => {
    const about = new Map<string, ChanneldataAbout>();
    for (let i = 0; i < wanted.length; i += opts.namesPerRead) {
      await opts.beforeRead?.();
      for (const [name, a] of await catalog.channeldataAbout(channelId, wanted.slice(i, i + opts.namesPerRead))) about.set(name, a);
    }
    return about;
  });
}
