// `/channels/<channel>/packages/<package>`: the latest version and its
// metadata, install lines for pixi/conda/mamba, versions × platforms, and
// every file (size, sha256, upload time, yanked state), newest first.
import { gql } from '../api.js';
import { badge, copyButton, copyLine, safeHref, table, visibilityBadge } from '../components.js';
import { notFound, type PageCtx } from '../ctx.js';
import { h } from '../dom.js';
import { bytes, dateTime, plural } from '../format.js';
import { paths } from '../router.js';

const VERSIONS = 200;
const FILES = 200;

const FILE_FIELDS = 'filename version platform buildString size sha256 createdAt yankedReason hidden license';

const QUERY = /* GraphQL */ `
query PackagePage($channel: String!, $name: String!) {
  viewer { login }
  channel(name: $channel) { name isPublic }
  package(channelName: $channel, name: $name) {
    name summary description totalSize
    latestVersion { version }
    urls { url kind }
    platforms
    versions(limit: ${VERSIONS}) { page { version platforms } totalCount }
    variants(limit: ${FILES}, includeHidden: true, orderBy: { byField: { field: CREATED_AT, direction: DESC } }) {
      page { ${FILE_FIELDS} }
      pages totalCount
    }
  }
}`;

const MORE_FILES = /* GraphQL */ `
query PackageFiles($channel: String!, $name: String!, $page: Int!) {
  package(channelName: $channel, name: $name) {
    variants(limit: ${FILES}, page: $page, includeHidden: true, orderBy: { byField: { field: CREATED_AT, direction: DESC } }) {
      page { ${FILE_FIELDS} }
      pages
    }
  }
}`;

interface FileRow {
  filename: string; version: string; platform: string; buildString: string; size: number | null; sha256: string | null;
  createdAt: string | null; yankedReason: string | null; hidden: boolean; license: string | null;
}
interface Files { page: FileRow[]; pages: number; totalCount?: number }
interface PackageData {
  viewer: { login: string } | null;
  channel: { name: string; isPublic: boolean } | null;
  package: {
    name: string; summary: string | null; description: string | null; totalSize: number;
    latestVersion: { version: string };
    urls: Array<{ url: string; kind: 'HOME' | 'DEV' | 'DOC' | 'SOURCE' | 'FEEDSTOCK' }>;
    platforms: string[];
    versions: { page: Array<{ version: string; platforms: string[] }>; totalCount: number };
    variants: Files & { totalCount: number };
  } | null;
}

const URL_LABEL: Record<string, string> = { HOME: 'Home page', DEV: 'Development', DOC: 'Documentation', SOURCE: 'Source', FEEDSTOCK: 'Feedstock' };

export async function packagePage(ctx: PageCtx): Promise<void> {
  if (ctx.route.name !== 'package') return;
  const { channel: channelName, pkg: name } = ctx.route;
  const { data } = await gql<PackageData>(QUERY, { channel: channelName, name });
  if (!ctx.current()) return;
  ctx.setViewer(data.viewer?.login ?? null);
  const channel = data.channel;
  const p = data.package;
  if (!channel) return notFound(ctx, 'channel');
  if (!p) return notFound(ctx, 'package');

  const latest = p.latestVersion.version;
  const license = p.variants.page.find((v) => v.version === latest && v.license)?.license ?? p.variants.page.find((v) => v.license)?.license ?? null;
  const channelUrl = `${location.origin}/${channel.name}`;
  const links = p.urls.map((u) => ({ ...u, href: safeHref(u.url) })).filter((u) => u.href !== null);

  const facts = h('dl', { class: 'facts' },
    fact('Latest version', h('span', { class: 'version' }, latest)),
    fact('License', license ?? 'not stated'),
    fact('Platforms', p.platforms.join(', ') || '—'),
    fact('Files', `${plural(p.variants.totalCount, 'file')}, ${bytes(p.totalSize)}`),
    links.length ? fact('Links', h('ul', { class: 'links' }, links.map((u) => h('li', null,
      h('a', { href: u.href!, rel: 'noopener noreferrer nofollow', target: '_blank' }, URL_LABEL[u.kind] ?? u.kind, h('span', { class: 'sr-only' }, ' (opens in a new tab)')))))) : null);

  const install = h('section', { class: 'card', 'aria-labelledby': 'install' },
    h('h2', { id: 'install' }, 'Install'),
    copyLine(`pixi add --channel ${channelUrl} ${p.name}`, 'pixi command', 'pixi'),
    copyLine(`conda install -c ${channelUrl} ${p.name}`, 'conda command', 'conda'),
    copyLine(`mamba install -c ${channelUrl} ${p.name}`, 'mamba command', 'mamba'),
    channel.isPublic ? null : h('p', { class: 'hint' }, 'This channel is private: clients need an API key (e.g. ', h('code', null, `pixi auth login ${location.host} --token <key>`), ').'));

  ctx.show(`${p.name} · ${channel.name}`,
    h('div', { class: 'page-head' },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        h('a', { href: paths.home() }, 'Channels'), h('span', { 'aria-hidden': 'true' }, ' / '),
        h('a', { href: paths.channel(channel.name) }, channel.name), ' ', visibilityBadge(channel.isPublic), h('span', { 'aria-hidden': 'true' }, ' / ')),
      h('div', { class: 'title-row' }, h('h1', { id: 'page-title', tabindex: '-1' }, p.name), h('span', { class: 'version big' }, latest)),
      p.summary ? h('p', { class: 'lead' }, p.summary) : null),
    h('div', { class: 'split' }, facts, install),
    p.description && p.description !== p.summary ? h('details', { class: 'card' }, h('summary', null, 'Description'), h('p', { class: 'prewrap' }, p.description)) : null,
    versionsSection(p.versions, p.platforms),
    filesSection(channel.name, p.name, p.variants));
}

function fact(term: string, value: Node | string): Node[] {
  return [h('dt', null, term), h('dd', null, value)];
}

function versionsSection(versions: { page: Array<{ version: string; platforms: string[] }>; totalCount: number }, platforms: string[]): HTMLElement {
  const cols = [...platforms].sort();
  return h('section', { 'aria-labelledby': 'versions' },
    h('h2', { id: 'versions' }, 'Versions'),
    h('p', { class: 'muted small' }, versions.totalCount > versions.page.length
      ? `The newest ${versions.page.length} of ${versions.totalCount} versions.` : plural(versions.totalCount, 'version')),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'table matrix' },
        h('caption', { class: 'sr-only' }, 'Platforms each version is available for'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Version'), cols.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, versions.page.map((v) => h('tr', null,
          h('th', { scope: 'row', class: 'version' }, v.version),
          cols.map((c) => v.platforms.includes(c)
            ? h('td', { class: 'yes' }, h('span', { 'aria-hidden': 'true' }, '●'), h('span', { class: 'sr-only' }, 'available'))
            : h('td', { class: 'no' }, h('span', { 'aria-hidden': 'true' }, '–'), h('span', { class: 'sr-only' }, 'not available')))))))));
}

function fileRowCells(channel: string): Parameters<typeof table<FileRow>>[1] {
  return [
    { label: 'File', cell: (f) => h('a', { class: 'mono', href: `/${encodeURIComponent(channel)}/${encodeURIComponent(f.platform)}/${encodeURIComponent(f.filename)}`, download: '' }, f.filename) },
    { label: 'Version', cell: (f) => h('span', { class: 'version' }, f.version) },
    { label: 'Platform', cell: (f) => f.platform },
    { label: 'Size', cls: 'num', cell: (f) => bytes(f.size) },
    { label: 'SHA256', cell: (f) => f.sha256 ? h('span', { class: 'hash' }, h('code', { class: 'mono sha', title: f.sha256 }, f.sha256), copyButton(f.sha256, `SHA256 of ${f.filename}`)) : '—' },
    { label: 'Uploaded', cls: 'nowrap', cell: (f) => f.createdAt ? h('time', { datetime: f.createdAt }, dateTime(f.createdAt)) : '—' },
    { label: 'State', cell: (f) => f.yankedReason !== null
      ? h('span', null, badge('Yanked', 'warn'), f.yankedReason ? h('span', { class: 'small muted' }, ` ${f.yankedReason}`) : null, f.hidden ? [' ', badge('Hidden', 'muted')] : null)
      : f.hidden ? badge('Hidden', 'muted') : badge('Available', 'ok') },
  ];
}

function filesSection(channel: string, name: string, first: Files & { totalCount: number }): HTMLElement {
  const cols = fileRowCells(channel);
  const wrap = table<FileRow>(`Files of ${name}`, cols, first.page, { class: 'files', id: 'files-table' });
  const tbody = wrap.querySelector('tbody')!;
  const status = h('p', { class: 'muted small', role: 'status' }, shownText(first.page.length, first.totalCount));
  let shown = first.page.length;
  let next = 1;
  const more = first.pages > 1 ? h('button', {
    type: 'button', class: 'button',
    onclick: async () => {
      more!.disabled = true;
      try {
        const { data } = await gql<{ package: { variants: Files } | null }>(MORE_FILES, { channel, name, page: next });
        const page = data.package?.variants.page ?? [];
        for (const f of page) tbody.appendChild(h('tr', null, cols.map((c) => h('td', { 'data-label': c.label, class: c.cls }, c.cell(f)))));
        shown += page.length;
        next++;
        status.textContent = shownText(shown, first.totalCount);
        more!.hidden = next >= (data.package?.variants.pages ?? 0);
      } catch (err) {
        status.textContent = (err as Error).message;
      } finally {
        more!.disabled = false;
      }
    },
  }, `Show more files`) : null;
  return h('section', { 'aria-labelledby': 'files' }, h('h2', { id: 'files' }, 'Files'), status, wrap, more);
}

const shownText = (shown: number, total: number): string => (shown < total ? `Newest first: ${shown} of ${total} files shown.` : `${plural(total, 'file')}, newest first.`);
