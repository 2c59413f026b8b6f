// The objects resolvers pass around, and how domain rows become them.
import type { Page, PageRequest, PackageRow, Channel, ApiKey, OidcPublisher } from '../types.js';
import type { PackageListRow } from '../core/catalog.js';
import { Errors } from '../errors.js';

export type ChannelObj = Channel & { sizeBytes?: number };
export interface PackageObj {
  channel: Channel;
  channelId: number;
  name: string;
  totalSizeBytes: number;
  lastCreatedAt: number;
  similarity: number | null;
}
export interface VersionObj {
  channel: Channel;
  channelId: number;
  name: string;
  version: string;
  platforms: string[];
}
export interface VariantObj {
  channel: Channel;
  row: PackageRow;
}
export interface MemberObj {
  username: string;
  channel: Channel;
  role: 'OWNER' | 'CONTRIBUTOR' | 'VIEWER';
  isOwner: boolean;
}
export type ApiKeyObj = ApiKey & { token?: string };

/** GithubPublisher / GitlabPublisher / OidcPublisher, in prefix.dev's field names. */
export function publisherObj(p: OidcPublisher) {
  const common = { provider: p.provider, id: p.id, createdAt: iso(p.createdAt), updatedAt: iso(p.updatedAt), environment: p.environment, accessMode: p.accessMode };
  return p.provider === 'github'
    ? { ...common, repositoryOwner: p.owner, repositoryName: p.project, workflowFilename: p.workflow }
    : { ...common, namespace: p.owner, project: p.project, workflowFilepath: p.workflow };
}

export function pageResult<T, U>(page: Page<T>, req: PageRequest, map: (item: T) => U) {
  return {
    page: page.items.map(map),
    current: req.page,
    pages: Math.ceil(page.totalCount / req.limit),
    totalCount: page.totalCount,
  };
}

export const packageObj = (channel: Channel, r: PackageListRow): PackageObj => ({
  channel, channelId: channel.id, name: r.name, totalSizeBytes: r.totalSizeBytes, lastCreatedAt: r.lastCreatedAt,
  similarity: r.similarity,
});

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** GraphQL Int is 32-bit; sizes beyond it are clamped rather than failing the whole query. */
export const int32 = (n: number): number => Math.min(n, 2_147_483_647);

export function parseJsonOrNull(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function parseDateTime(value: unknown): number {
  if (typeof value !== 'string') throw new Errors.BAD_REQUEST('DateTime must be an RFC 3339 string');
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms)) throw new Errors.BAD_REQUEST(`invalid DateTime ${JSON.stringify(value)} (RFC 3339, e.g. 2026-01-31T00:00:00Z)`);
  return ms;
}

const URL_FIELDS: ReadonlyArray<readonly [string, 'HOME' | 'DEV' | 'DOC' | 'SOURCE']> = [
  ['home', 'HOME'], ['dev_url', 'DEV'], ['doc_url', 'DOC'], ['source_url', 'SOURCE'],
];

/** home/dev_url/doc_url/source_url of about.json (a string or a list) as Url objects. */
export function urlsOf(aboutJson: string | null): Array<{ url: string; kind: string; order: number }> {
  const about = parseJsonOrNull(aboutJson);
  if (about === null || typeof about !== 'object' || Array.isArray(about)) return [];
  const out: Array<{ url: string; kind: string; order: number }> = [];
  for (const [field, kind] of URL_FIELDS) {
    const v = (about as Record<string, unknown>)[field];
    const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
    list.filter((u): u is string => typeof u === 'string' && u !== '').forEach((url, order) => out.push({ url, kind, order }));
  }
  return out;
}

export function aboutField(aboutJson: string | null, field: string): string | null {
  const about = parseJsonOrNull(aboutJson);
  if (about === null || typeof about !== 'object') return null;
  const v = (about as Record<string, unknown>)[field];
  return typeof v === 'string' ? v : null;
}
