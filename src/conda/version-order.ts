// Conda version ordering (CEP 33 / conda's VersionOrder) from rattler, the
// reference implementation, compiled to WASM. Plain string order is wrong
// (1.10 > 1.9, 1.0rc1 < 1.0), so latestVersion must not use it.
import { Version } from '@conda-org/rattler';

/** Sorts version strings newest first. Unparseable versions go last, by string. */
export function sortVersionsDesc(versions: readonly string[]): string[] {
  const parsed = versions.map((v) => {
    try {
      return { v, parsed: new Version(v) as Version | null };
    } catch {
      return { v, parsed: null };
    }
  });
  parsed.sort((a, b) => {
    if (a.parsed && b.parsed) return b.parsed.compare(a.parsed);
    if (a.parsed) return -1;
    if (b.parsed) return 1;
    return a.v < b.v ? 1 : a.v > b.v ? -1 : 0;
  });
  const out = parsed.map((p) => p.v);
  for (const p of parsed) (p.parsed as { free?: () => void } | null)?.free?.();
  return out;
}
