// The nesting guard for every JSON document read out of a package
// (index.json, about.json, run_exports.json, paths.json).

/** Deepest nesting of arrays/objects any JSON document may have here (real index.json: 2; paths.json: 3). */
export const MAX_JSON_DEPTH = 64;

/**
 * True when the JSON text nests arrays/objects deeper than `maxDepth`. A byte
 * scan (strings skipped), so a hostile document is refused before JSON.parse
 * builds it and before any recursive walk (canonical JSON) could overflow.
 */
export function jsonTooDeep(text: Buffer, maxDepth = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
