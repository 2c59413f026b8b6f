// `/`: the channels the visitor may see (public ones, plus their own and
// those they are a member of), with package counts and sizes; a search box
// that finds packages (by name similarity) and channels (by name).
import { gql } from '../api.js';
import { badge, pager, searchForm, table, visibilityBadge } from '../components.js';
import type { PageCtx } from '../ctx.js';
import { h } from '../dom.js';
import { bytes, plural } from '../format.js';
import { pageParam, paths } from '../router.js';

const PAGE_SIZE = 25;

const QUERY = /* GraphQL */ `
query Home($page: Int!, $filters: ChannelFilter, $q: String!, $search: Boolean!) {
  viewer { login }
  channels(filters: $filters, orderBy: { byField: { field: NAME, direction: ASC } }, limit: ${PAGE_SIZE}, page: $page) {
    page { name description isPublic size packages(limit: 1) { totalCount } }
    pages totalCount
  }
  packages(orderBy: { bySimilarity: { field: NAME, matches: $q } }, limit: 20) @include(if: $search) {
    page { name summary channel { name isPublic } latestVersion { version } }
    totalCount
  }
}`;

interface ChannelRow { name: string; description: string | null; isPublic: boolean; size: number; packages: { totalCount: number } }
interface PackageHit { name: string; summary: string | null; channel: { name: string; isPublic: boolean }; latestVersion: { version: string } }
interface HomeData {
  viewer: { login: string } | null;
  channels: { page: ChannelRow[]; pages: number; totalCount: number };
  packages?: { page: PackageHit[]; totalCount: number };
}

export async function homePage(ctx: PageCtx): Promise<void> {
  const q = (ctx.url.searchParams.get('q') ?? '').trim();
  const page = pageParam(ctx.url.searchParams);
  const { data } = await gql<HomeData>(QUERY, {
    page, q, search: q !== '', filters: q ? { name: { contains: q } } : null,
  });
  if (!ctx.current()) return;
  ctx.setViewer(data.viewer?.login ?? null);

  const search = searchForm('Search packages and channels', q, (nq) => ctx.navigate(paths.home(nq)), 'Package or channel name');
  const channels = data.channels;
  const channelList = channels.page.length === 0
    ? h('p', { class: 'empty' }, q ? `No channel name contains “${q}”.` : emptyText(data.viewer !== null))
    : table<ChannelRow>('Channels', [
      { label: 'Channel', cell: (c) => h('div', null, h('a', { class: 'strong', href: paths.channel(c.name) }, c.name), c.description ? h('p', { class: 'muted small' }, c.description) : null) },
      { label: 'Visibility', cell: (c) => visibilityBadge(c.isPublic) },
      { label: 'Packages', cls: 'num', cell: (c) => c.packages.totalCount.toLocaleString() },
      { label: 'Size', cls: 'num', cell: (c) => bytes(c.size) },
    ], channels.page, { class: 'channels' });

  const hits = data.packages;
  ctx.show(q ? `Search: ${q}` : 'Channels',
    h('div', { class: 'page-head' },
      h('h1', { id: 'page-title', tabindex: '-1' }, q ? 'Search' : 'Channels'),
      h('p', { class: 'muted' }, q ? null : data.viewer ? 'Public channels and the ones you belong to.' : 'Public channels on this server.')),
    search,
    hits ? h('section', { 'aria-labelledby': 'pkg-hits' },
      h('h2', { id: 'pkg-hits' }, `Packages matching “${q}”`),
      hits.page.length === 0
        ? h('p', { class: 'empty' }, 'No packages found.')
        : h('ul', { class: 'hits' }, hits.page.map((p) => h('li', null,
          h('a', { class: 'strong', href: paths.pkg(p.channel.name, p.name) }, p.name),
          ' ', h('span', { class: 'version' }, p.latestVersion.version),
          ' in ', h('a', { href: paths.channel(p.channel.name) }, p.channel.name),
          p.channel.isPublic ? null : [' ', badge('Private', 'private')],
          p.summary ? h('p', { class: 'muted small' }, p.summary) : null)))) : null,
    h('section', { 'aria-labelledby': 'channel-list' },
      h('h2', { id: 'channel-list', class: q ? '' : 'sr-only' }, q ? `Channels matching “${q}”` : 'All channels'),
      h('p', { class: 'muted small' }, plural(channels.totalCount, 'channel')),
      channelList,
      pager(page, channels.pages, (p) => paths.home(q, p), 'Channel pages')));
}

function emptyText(signedIn: boolean): string {
  return signedIn
    ? 'No channels yet. Create one with `channeld channel create NAME --owner LOGIN` or the createChannel mutation.'
    : 'There are no public channels yet. Sign in to see private ones you may read.';
}
