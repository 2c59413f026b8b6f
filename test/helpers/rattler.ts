// The real rattler solver (@conda-org/rattler, rattler compiled to wasm) with
// the one workaround it needs here.
//
// @conda-org/rattler 0.3.5 panics ("time not implemented on this platform",
// then a wasm `unreachable` that kills the process) whenever repodata.json
// arrives with Content-Encoding: gzip; identity bodies work. Its HTTP client
// (reqwest on wasm) calls globalThis.fetch for every request, so while it
// solves, a wrapper asks for identity.
//
// The wasm build has no credentials of its own: simpleSolve takes no auth
// option, the build carries none of rattler_networking's auth storage (no
// RATTLER_AUTH_FILE, netrc or keyring), and a channel URL with user:key@host
// fails with "builder error" before any request. What it can use is conda's
// /t/<key>/ URL prefix, which is plain URL text to it. `headers` below adds
// headers the way a host application could (e.g. a Bearer key, as native
// pixi/rattler send it): through the same fetch wrapper, not through rattler.
import { simpleSolve, type Platform, type SolvedPackage } from '@conda-org/rattler';

export interface SolveOptions {
  /** Extra request headers, set on every request the solver makes. */
  headers?: Record<string, string>;
  /** Called with each request as sent (method, URL, headers). */
  onRequest?: (request: Request) => void;
}

export async function rattlerSolve(
  specs: string[], channels: string[], platforms: Platform[], opts: SolveOptions = {},
): Promise<SolvedPackage[]> {
  const realFetch = globalThis.fetch;
  globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    headers.set('accept-encoding', 'identity');
    for (const [name, value] of Object.entries(opts.headers ?? {})) headers.set(name, value);
    const sent = new Request(request, { headers });
    opts.onRequest?.(sent);
    return realFetch(sent);
  }) as typeof fetch;
  try {
    return await simpleSolve(specs, channels, platforms, undefined);
  } finally {
    globalThis.fetch = realFetch;
  }
}

/** The solver's error (it rejects with a string, not an Error), or null if it solved. */
export async function rattlerSolveError(
  specs: string[], channels: string[], platforms: Platform[], opts: SolveOptions = {},
): Promise<string | null> {
  try {
    await rattlerSolve(specs, channels, platforms, opts);
    return null;
  } catch (err) {
    return String(err);
  }
}
