// `/channels/<name>` (packages: search, paging), and for those who manage the
// channel `/channels/<name>/members` (add, change role, remove) and
// `/channels/<name>/settings` (visibility, description, delete).
import { gql, mutate } from '../api.js';
import { confirmDialog, copyLine, errorBox, liveRegion, pager, searchForm, table, visibilityBadge } from '../components.js';
import { forbidden, notFound, type PageCtx } from '../ctx.js';
import { announce, field, h, nextId } from '../dom.js';
import { bytes, date, plural } from '../format.js';
import { pageParam, paths, type ChannelTab } from '../router.js';

const PAGE_SIZE = 50;

type Access = 'ADMIN' | 'CHANNEL_ROLE' | 'NONE';
type Role = 'OWNER' | 'CONTRIBUTOR' | 'VIEWER';

interface ChannelHead {
  name: string;
  description: string | null;
  isPublic: boolean;
  size: number;
  all: { totalCount: number };
}
interface PackageRow {
  name: string;
  summary: string | null;
  totalSize: number;
  lastCreatedDate: string | null;
  latestVersion: { version: string };
  platforms: string[];
}
interface Member { username: string; role: Role; isOwner: boolean }
interface ChannelData {
  viewer: { login: string } | null;
  channelManageAccess: Access;
  channel: (ChannelHead & {
    packages?: { page: PackageRow[]; pages: number; totalCount: number };
    channelMembers?: Member[];
  }) | null;
}

const HEAD = 'name description isPublic size all: packages(limit: 1) { totalCount }';

const QUERIES: Record<ChannelTab, string> = {
  packages: /* GraphQL */ `
query ChannelPackages($name: String!, $filters: PackageFilter, $page: Int!) {
  viewer { login }
  channelManageAccess(channelName: $name)
  channel(name: $name) {
    ${HEAD}
    packages(filters: $filters, orderBy: { byField: { field: NAME, direction: ASC } }, limit: ${PAGE_SIZE}, page: $page) {
      page { name summary totalSize lastCreatedDate latestVersion { version } platforms }
      pages totalCount
    }
  }
}`,
  members: /* GraphQL */ `
query ChannelMembers($name: String!) {
  viewer { login }
  channelManageAccess(channelName: $name)
  channel(name: $name) { ${HEAD} channelMembers { username role isOwner } }
}`,
  settings: /* GraphQL */ `
query ChannelSettings($name: String!) {
  viewer { login }
  channelManageAccess(channelName: $name)
  channel(name: $name) { ${HEAD} }
}`,
};

const ROLE_LABEL: Record<Role, string> = { OWNER: 'Owner', CONTRIBUTOR: 'Contributor', VIEWER: 'Viewer' };
const ROLE_HINT = 'Viewers may read a private channel; contributors may also upload; owners may also manage members and settings.';

export async function channelPage(ctx: PageCtx): Promise<void> {
  if (ctx.route.name !== 'channel') return;
  const { channel: name, tab } = ctx.route;
  const q = (ctx.url.searchParams.get('q') ?? '').trim();
  const page = pageParam(ctx.url.searchParams);
  const vars: Record<string, unknown> = { name };
  if (tab === 'packages') Object.assign(vars, { page, filters: q ? { name: { contains: q } } : null });
  const { data } = await gql<ChannelData>(QUERIES[tab], vars);
  if (!ctx.current()) return;
  ctx.setViewer(data.viewer?.login ?? null);
  const channel = data.channel;
  if (!channel) return notFound(ctx, 'channel');
  const manages = data.channelManageAccess !== 'NONE';
  if (tab !== 'packages' && !manages) {
    return forbidden(ctx, data.viewer
      ? `Only the owners of ${channel.name} (and administrators) may change its ${tab}.`
      : `Sign in as an owner of ${channel.name} to change its ${tab}.`);
  }
  const head = header(channel, tab, manages);
  if (tab === 'packages') return ctx.show(channel.name, head, packagesSection(ctx, channel.name, channel.packages!, q, page));
  if (tab === 'members') return ctx.show(`Members · ${channel.name}`, head, membersSection(ctx, channel.name, channel.channelMembers ?? [], data.viewer?.login ?? null));
  return ctx.show(`Settings · ${channel.name}`, head, settingsSection(ctx, channel));
}

function header(c: ChannelHead, tab: ChannelTab, manages: boolean): HTMLElement {
  const tabs: Array<[ChannelTab, string, string]> = [
    ['packages', 'Packages', paths.channel(c.name)],
    ['members', 'Members', paths.members(c.name)],
    ['settings', 'Settings', paths.channelSettings(c.name)],
  ];
  return h('div', { class: 'page-head' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: paths.home() }, 'Channels'), h('span', { 'aria-hidden': 'true' }, ' / ')),
    h('div', { class: 'title-row' }, h('h1', { id: 'page-title', tabindex: '-1' }, c.name), visibilityBadge(c.isPublic)),
    c.description ? h('p', { class: 'lead' }, c.description) : null,
    h('p', { class: 'muted' }, `${plural(c.all.totalCount, 'package')} · ${bytes(c.size)}`),
    copyLine(`${location.origin}/${c.name}`, 'channel URL', 'Channel URL'),
    manages ? h('nav', { class: 'tabs', 'aria-label': 'Channel sections' }, tabs.map(([t, label, href]) =>
      h('a', { href, class: 'tab', 'aria-current': t === tab ? 'page' : null }, label))) : null);
}

function packagesSection(ctx: PageCtx, channel: string, pkgs: { page: PackageRow[]; pages: number; totalCount: number }, q: string, page: number): HTMLElement {
  return h('section', { 'aria-labelledby': 'pkgs' },
    h('h2', { id: 'pkgs' }, 'Packages'),
    searchForm(`Search packages in ${channel}`, q, (nq) => ctx.navigate(paths.channel(channel, nq)), 'Filter packages by name'),
    h('p', { class: 'muted small', role: 'status' }, q ? `${plural(pkgs.totalCount, 'package')} matching “${q}”` : plural(pkgs.totalCount, 'package')),
    pkgs.page.length === 0
      ? h('p', { class: 'empty' }, q ? 'No package name contains that.' : 'No packages yet. Upload one with `pixi upload`, `rattler-build upload` or the REST API.')
      : table<PackageRow>(`Packages in ${channel}`, [
        { label: 'Package', cell: (p) => h('div', null, h('a', { class: 'strong', href: paths.pkg(channel, p.name) }, p.name), p.summary ? h('p', { class: 'muted small' }, p.summary) : null) },
        { label: 'Latest', cell: (p) => h('span', { class: 'version' }, p.latestVersion.version) },
        { label: 'Platforms', cell: (p) => p.platforms.join(', ') },
        { label: 'Size', cls: 'num', cell: (p) => bytes(p.totalSize) },
        { label: 'Updated', cls: 'nowrap', cell: (p) => date(p.lastCreatedDate) },
      ], pkgs.page, { class: 'packages' }),
    pager(page, pkgs.pages, (p) => paths.channel(channel, q, p), 'Package pages'));
}

function roleSelect(id: string, selected: Role): HTMLSelectElement {
  return h('select', { id, name: 'role' }, (['VIEWER', 'CONTRIBUTOR', 'OWNER'] as Role[]).map((r) =>
    h('option', { value: r, selected: r === selected }, ROLE_LABEL[r])));
}

function membersSection(ctx: PageCtx, channel: string, members: Member[], me: string | null): HTMLElement {
  const errors = errorBox();
  const act = async (what: () => Promise<unknown>, done: { focus: string; say: string }) => {
    errors.show(null);
    try {
      await what();
      ctx.reload(done);
    } catch (err) {
      errors.show((err as Error).message);
    }
  };

  const roleCell = (m: Member): Node => {
    if (m.isOwner) return h('span', { class: 'badge ok' }, 'Owner (creator)');
    const id = nextId('role');
    const select = roleSelect(id, m.role);
    return h('form', {
      class: 'inline-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void act(() => mutate(ADD_MEMBER, { userName: m.username, channelName: channel, role: select.value }),
          { focus: `#members-table`, say: `${m.username} is now ${ROLE_LABEL[select.value as Role].toLowerCase()}` });
      },
    }, h('label', { for: id, class: 'sr-only' }, `Role of ${m.username}`), select, h('button', { type: 'submit', class: 'button small' }, 'Change role'));
  };
  const removeCell = (m: Member): Node | null => m.isOwner ? null : h('button', {
    type: 'button', class: 'button small danger-outline', 'aria-label': `Remove ${m.username}`,
    onclick: async () => {
      const ok = await confirmDialog({
        title: `Remove ${m.username}?`,
        body: `${m.username} will lose their ${ROLE_LABEL[m.role].toLowerCase()} access to ${channel}${m.username === me ? ', and so will you' : ''}.`,
        confirmLabel: 'Remove member', danger: true,
      });
      if (ok) await act(() => mutate(DELETE_MEMBER, { userName: m.username, channelName: channel }), { focus: '#add-user', say: `Removed ${m.username}` });
    },
  }, 'Remove');

  const user = h('input', { id: 'add-user', name: 'userName', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const role = roleSelect('add-role', 'VIEWER');
  const addForm = h('form', {
    class: 'card form', 'aria-labelledby': 'add-member',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      const userName = user.value.trim();
      if (!userName) return;
      void act(() => mutate(ADD_MEMBER, { userName, channelName: channel, role: role.value }),
        { focus: '#add-user', say: `Added ${userName} as ${ROLE_LABEL[role.value as Role].toLowerCase()}` });
    },
  },
  h('h3', { id: 'add-member' }, 'Add a member'),
  h('div', { class: 'row' }, field('Username', user), field('Role', role, ROLE_HINT)),
  h('button', { type: 'submit', class: 'button primary' }, 'Add member'));

  return h('section', { 'aria-labelledby': 'members' },
    h('h2', { id: 'members' }, 'Members'),
    errors,
    h('div', { id: 'members-table', tabindex: '-1' },
      table<Member>(`Members of ${channel}`, [
        { label: 'User', cell: (m) => h('strong', null, m.username) },
        { label: 'Role', cell: roleCell },
        { label: 'Actions', cell: removeCell },
      ], members, { class: 'members' })),
    addForm);
}

function settingsSection(ctx: PageCtx, c: ChannelHead): HTMLElement {
  const errors = errorBox();
  const radio = (value: 'public' | 'private', label: string, hint: string) => {
    const id = `vis-${value}`;
    return h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'visibility', id, value, checked: (value === 'public') === c.isPublic, 'aria-describedby': `${id}-hint` }),
      h('label', { for: id }, label),
      h('p', { class: 'hint', id: `${id}-hint` }, hint));
  };
  const description = h('textarea', { id: 'description', name: 'description', rows: '3', maxlength: '1000' });
  description.value = c.description ?? '';
  const form = h('form', {
    class: 'card form', 'aria-labelledby': 'settings',
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      errors.show(null);
      const isPublic = (form.querySelector('input[name=visibility]:checked') as HTMLInputElement).value === 'public';
      try {
        await mutate(UPDATE_CHANNEL, { name: c.name, description: description.value.trim(), isPublic });
        ctx.reload({ focus: '#settings', say: 'Settings saved' });
      } catch (err) {
        errors.show((err as Error).message);
      }
    },
  },
  h('h2', { id: 'settings', tabindex: '-1' }, 'Settings'),
  errors,
  h('fieldset', null, h('legend', null, 'Visibility'),
    radio('public', 'Public', 'Anyone can browse and download its packages, without signing in.'),
    radio('private', 'Private', 'Only members (and administrators) can see it or download from it.')),
  field('Description', description),
  h('button', { type: 'submit', class: 'button primary' }, 'Save settings'));

  const deleteErrors = errorBox();
  const danger = h('section', { class: 'card danger-zone', 'aria-labelledby': 'danger' },
    h('h2', { id: 'danger' }, 'Delete this channel'),
    h('p', null, 'Deleting removes the channel, every package file in it and its members. This cannot be undone.'),
    deleteErrors,
    h('button', {
      type: 'button', class: 'button danger',
      onclick: async () => {
        const ok = await confirmDialog({
          title: `Delete ${c.name}?`,
          body: h('p', null, `This deletes ${plural(c.all.totalCount, 'package')} (${bytes(c.size)}) for good. Clients using this channel will fail.`),
          confirmLabel: 'Delete channel', danger: true, typeToConfirm: c.name,
        });
        if (!ok) return;
        try {
          await mutate(DELETE_CHANNEL, { name: c.name });
          ctx.navigate(paths.home());
          announce(liveRegion(), `Deleted channel ${c.name}`);
        } catch (err) {
          deleteErrors.show((err as Error).message);
        }
      },
    }, 'Delete channel…'));
  return h('div', { class: 'stack' }, form, danger);
}

const ADD_MEMBER = /* GraphQL */ `
mutation AddMember($userName: String!, $channelName: String!, $role: ChannelMemberRole!) {
  addChannelMember(userName: $userName, channelName: $channelName, role: $role) { username role }
}`;
const DELETE_MEMBER = /* GraphQL */ `
mutation DeleteMember($userName: String!, $channelName: String!) {
  deleteChannelMember(userName: $userName, channelName: $channelName) { username }
}`;
const UPDATE_CHANNEL = /* GraphQL */ `
mutation UpdateChannel($name: String!, $description: String, $isPublic: Boolean) {
  updateChannel(name: $name, description: $description, isPublic: $isPublic) { channel { name isPublic description } }
}`;
const DELETE_CHANNEL = /* GraphQL */ `
mutation DeleteChannel($name: String!) { deleteChannel(name: $name) { channel { name } } }`;
