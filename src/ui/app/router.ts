// URLs of the UI. Every page lives under a prefix no channel can take
// (/channels/, /settings/, /login), so they never shadow channel paths
// like /<channel>/<subdir>/repodata.json.

export type ChannelTab = 'packages' | 'members' | 'settings';

export type Route =
  | { name: 'home' }
  | { name: 'channel'; channel: string; tab: ChannelTab }
  | { name: 'package'; channel: string; pkg: string }
  | { name: 'apiKeys' }
  | { name: 'login' }
  | { name: 'notFound' };

const enc = encodeURIComponent;

export const paths = {
  home: (q?: string, page?: number): string => withQuery('/', { q, page }),
  channel: (c: string, q?: string, page?: number): string => withQuery(`/channels/${enc(c)}`, { q, page }),
  members: (c: string): string => `/channels/${enc(c)}/members`,
  channelSettings: (c: string): string => `/channels/${enc(c)}/settings`,
  pkg: (c: string, p: string): string => `/channels/${enc(c)}/packages/${enc(p)}`,
  apiKeys: '/settings/api-keys',
  login: (next?: string): string => withQuery('/login', { next: next && next !== '/' ? next : undefined }),
};

/** `page` is 0-based inside the app and 1-based in URLs. */
function withQuery(path: string, params: { q?: string; page?: number; next?: string }): string {
  const sp = new URLSearchParams();
  if (params.q) sp.set('q', params.q);
  if (params.page) sp.set('page', String(params.page + 1));
  if (params.next) sp.set('next', params.next);
  const s = sp.toString();
  return s ? `${path}?${s}` : path;
}

export function pageParam(sp: URLSearchParams): number {
  const n = Number(sp.get('page') ?? '1');
  return Number.isInteger(n) && n >= 1 ? n - 1 : 0;
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export function matchRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((p) => p !== '');
  if (parts.length === 0) return { name: 'home' };
  const [first, ...rest] = parts;
  if (first === 'login' && rest.length === 0) return { name: 'login' };
  if (first === 'settings' && rest.length === 1 && rest[0] === 'api-keys') return { name: 'apiKeys' };
  if (first === 'channels' && rest.length >= 1) {
    const channel = decode(rest[0]!);
    if (channel === null) return { name: 'notFound' };
    if (rest.length === 1) return { name: 'channel', channel, tab: 'packages' };
    if (rest.length === 2 && (rest[1] === 'members' || rest[1] === 'settings')) return { name: 'channel', channel, tab: rest[1] };
    if (rest.length === 3 && rest[1] === 'packages') {
      const pkg = decode(rest[2]!);
      if (pkg !== null) return { name: 'package', channel, pkg };
    }
  }
  return { name: 'notFound' };
}

/** Paths the app renders itself (links to anything else, e.g. package downloads, go to the server). */
export function isUiPath(pathname: string): boolean {
  return pathname === '/' || pathname === '/login' || pathname.startsWith('/channels/') || pathname.startsWith('/settings/');
}

/** A post-sign-in destination: only a path on this site. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}
