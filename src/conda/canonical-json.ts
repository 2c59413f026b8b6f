// The one JSON text conda-index writes for a value: Python's
// json.dumps(sort_keys=True, separators=(",", ":")) with the default
// ensure_ascii=True. A record is stored as this text at upload and spliced
// into every later repodata.json as it is, so it must be that text exactly.

/**
 * Orders strings by Unicode code point, like Python's str comparison and
 * SQLite's BINARY collation over UTF-8. (Plain `<` orders by UTF-16 code unit,
 * which puts U+10000.. before U+E000..U+FFFF.)
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Move surrogates (D800..DFFF) above E000..FFFF; the first differing
      // unit then decides in code-point order.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

// Printable ASCII other than `"` and `\` is written as is (Python's
// ESCAPE_ASCII is `([\\"]|[^\ -~])`).
const PLAIN_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const HEX = '0123456789abcdef';

/** A string as canonicalJson writes it (quoted, escaped); for writers that splice JSON text together. */
export function escapeString(s: string): string {
  if (PLAIN_RE.test(s)) return `"${s}"`;
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    if (i > start) out += s.slice(start, i);
    start = i + 1;
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      default:
        // Control characters, DEL and everything non-ASCII, one UTF-16 code
        // unit at a time: characters above U+FFFF come out as their surrogate
        // pair (\ud83d\ude00), exactly as Python does, lowercase hex.
        out += '\\u' + HEX[(c >> 12) & 15] + HEX[(c >> 8) & 15] + HEX[(c >> 4) & 15] + HEX[c & 15];
    }
  }
  if (start < s.length) out += s.slice(start);
  return out + '"';
}

/** A finite number the way Python's json.dumps prints the value JSON.parse gives. */
function formatNumber(x: number): string {
  if (!Number.isFinite(x)) {
    // Python would write NaN / Infinity, which is not JSON; refuse instead.
    throw new TypeError(`canonicalJson: cannot serialise ${String(x)}`);
  }
  if (Number.isInteger(x)) {
    // Treated as a Python int (JSON.parse cannot tell 1 from 1.0): all digits,
    // never an exponent; -0 is 0.
    if (x === 0) return '0';
    return Math.abs(x) < 1e21 ? String(x) : BigInt(x).toString();
  }
  // A Python float, repr(): the same shortest round-trip digits as JS, but
  // scientific notation when the decimal exponent is < -4 (JS: < -6) and a
  // two-digit minimum exponent (1e-05). Non-integers never reach >= 1e16,
  // where Python would also switch.
  const [mantissa = '', exp = '0'] = x.toExponential().split('e');
  const e = Number(exp);
  if (e >= -4) return String(x);
  const digits = Math.abs(e) < 10 ? `0${Math.abs(e)}` : String(Math.abs(e));
  return `${mantissa}e${e < 0 ? '-' : '+'}${digits}`;
}

function serialise(value: unknown, where: string): string {
  switch (typeof value) {
    case 'string':
      return escapeString(value);
    case 'number':
      return formatNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += serialise(value[i], `${where}[${i}]`);
        }
        return out + ']';
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonicalJson: cannot serialise a ${(value as object).constructor?.name ?? 'non-plain object'} at ${where}`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort(compareCodePoints);
      let out = '{';
      let first = true;
      for (const key of keys) {
        const v = obj[key];
        if (v === undefined) continue; // like JSON.stringify: an absent key
        if (!first) out += ',';
        first = false;
        out += escapeString(key) + ':' + serialise(v, `${where}.${key}`);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise ${typeof value} at ${where}`);
  }
}

/**
 * Canonical JSON, identical to Python's
 * `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`
 * for anything JSON.parse can produce:
 * - object keys sorted at every level by code point (Python's str order);
 *   arrays keep their order;
 * - strings: `"` `\` and \b \f \n \r \t get short escapes; other control
 *   characters, DEL and all non-ASCII become \uXXXX (lowercase; characters
 *   above U+FFFF as two surrogate escapes); `/` is not escaped;
 * - no whitespace, no trailing newline.
 *
 * Where it cannot match Python, because JS numbers lose information at
 * JSON.parse time: integral numbers are printed as Python ints (`1.0`, `1e16`
 * in the source come out as `1`, `10000000000000000`; Python keeps them
 * floats: `1.0`, `1e+16`), integers beyond 2^53 are already rounded, and
 * `-0.0` prints as `0` (Python: `-0.0`). Non-integral numbers print as
 * Python's float repr (`0.1`, `1e-05`, `1.5e-07`).
 *
 * Also unlike Python: NaN/±Infinity throw (Python writes non-JSON `NaN`);
 * object keys whose value is `undefined` are left out (as JSON.stringify
 * does); `undefined`, functions, symbols, and objects that are not plain
 * (Date, Map, class instances) throw a TypeError. bigint prints as an integer.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, '$');
}
