// `/settings/api-keys`: the signed-in user's keys; create one (shown exactly
// once, with a copy button), revoke or delete with confirmation.
import { ApiError, gql, mutate, type GqlError } from '../api.js';
import { badge, confirmDialog, copyButton, errorBox, table } from '../components.js';
import type { PageCtx } from '../ctx.js';
import { field, h, replace } from '../dom.js';
import { date, relative } from '../format.js';
import { paths } from '../router.js';

type Mode = 'ALL' | 'READ' | 'READ_WRITE' | 'READ_WRITE_DELETE';

interface Key {
  name: string; description: string | null; createdAt: string; expiresAt: string | null; lastUsedAt: string | null;
  revokedAt: string | null; accessMode: Mode; channel: { name: string } | null;
}
interface KeysData {
  viewer: { login: string; channels: { page: Array<{ name: string }> } } | null;
  apiKeys: Key[];
}

const QUERY = /* GraphQL */ `
query ApiKeys {
  viewer { login channels(orderBy: { byField: { field: NAME, direction: ASC } }, limit: 200) { page { name } } }
  apiKeys { name description createdAt expiresAt lastUsedAt revokedAt accessMode channel { name } }
}`;

const CREATE = /* GraphQL */ `
mutation CreateApiKey($name: String!, $description: String, $expiresAt: DateTime, $accessMode: ChannelAccessMode, $channelName: String) {
  createApiKey(name: $name, description: $description, expiresAt: $expiresAt, accessMode: $accessMode, channelName: $channelName) { key name }
}`;
const REVOKE = 'mutation RevokeApiKey($name: String!) { revokeApiKey(name: $name) }';
const DELETE = 'mutation DeleteApiKey($name: String!) { deleteApiKey(name: $name) }';

const MODES: Array<[Mode, string]> = [
  ['ALL', 'Everything you can do'],
  ['READ', 'Read only'],
  ['READ_WRITE', 'Read and upload'],
  ['READ_WRITE_DELETE', 'Read, upload and delete'],
];
const MODE_LABEL = Object.fromEntries(MODES) as Record<Mode, string>;

const EXPIRY: Array<[string, string]> = [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year'], ['custom', 'Custom date…']];

export async function apiKeysPage(ctx: PageCtx): Promise<void> {
  const { data, errors } = await gql<KeysData>(QUERY);
  if (!ctx.current()) return;
  if (!data.viewer) {
    ctx.setViewer(null);
    ctx.navigate(paths.login(paths.apiKeys), { replace: true });
    return;
  }
  throwFirst(errors);
  ctx.setViewer(data.viewer.login);
  const channels = data.viewer.channels.page.map((c) => c.name);
  ctx.show('API keys',
    h('div', { class: 'page-head' },
      h('p', { class: 'eyebrow' }, 'Settings'),
      h('h1', { id: 'page-title', tabindex: '-1' }, 'API keys'),
      h('nav', { class: 'tabs', 'aria-label': 'Settings sections' }, h('a', { class: 'tab', href: paths.apiKeys, 'aria-current': 'page' }, 'API keys')),
      h('p', { class: 'muted' }, 'Keys let pixi, conda, rattler-build and scripts act as you. Use them as ',
        h('code', null, 'Authorization: Bearer <key>'), ', or with ', h('code', null, `pixi auth login ${location.host} --token <key>`), '.')),
    h('div', { id: 'new-key' }),
    keyList(ctx, data.apiKeys),
    createForm(ctx, channels));
}

function throwFirst(errors: GqlError[]): void {
  if (errors[0]) throw new ApiError(errors[0].message, errors[0].extensions?.code ?? 'ERROR', 200);
}

function status(k: Key): HTMLElement {
  if (k.revokedAt) return badge('Revoked', 'muted');
  if (k.expiresAt && Date.parse(k.expiresAt) <= Date.now()) return badge('Expired', 'warn');
  return badge('Active', 'ok');
}

function keyList(ctx: PageCtx, keys: Key[]): HTMLElement {
  const errors = errorBox();
  const run = async (q: string, k: Key, say: string) => {
    errors.show(null);
    try {
      await mutate(q, { name: k.name });
      ctx.reload({ focus: '#keys', say });
    } catch (err) {
      errors.show((err as Error).message);
    }
  };
  const actions = (k: Key): Node => h('div', { class: 'actions' },
    k.revokedAt ? null : h('button', {
      type: 'button', class: 'button small', 'aria-label': `Revoke ${k.name}`,
      onclick: async () => {
        const ok = await confirmDialog({
          title: `Revoke “${k.name}”?`,
          body: 'Anything using this key stops working at once. The key stays listed as revoked.',
          confirmLabel: 'Revoke key', danger: true,
        });
        if (ok) await run(REVOKE, k, `Revoked ${k.name}`);
      },
    }, 'Revoke'),
    h('button', {
      type: 'button', class: 'button small danger-outline', 'aria-label': `Delete ${k.name}`,
      onclick: async () => {
        const ok = await confirmDialog({
          title: `Delete “${k.name}”?`,
          body: k.revokedAt ? 'The key is removed from this list.' : 'Anything using this key stops working at once, and the key is removed from this list.',
          confirmLabel: 'Delete key', danger: true,
        });
        if (ok) await run(DELETE, k, `Deleted ${k.name}`);
      },
    }, 'Delete'));

  return h('section', { 'aria-labelledby': 'keys' },
    h('h2', { id: 'keys', tabindex: '-1' }, 'Your keys'),
    errors,
    keys.length === 0 ? h('p', { class: 'empty' }, 'You have no API keys yet.') : table<Key>('Your API keys', [
      { label: 'Name', cell: (k) => h('div', null, h('strong', null, k.name), k.description ? h('p', { class: 'muted small' }, k.description) : null) },
      { label: 'Access', cell: (k) => h('div', null, MODE_LABEL[k.accessMode] ?? k.accessMode, h('p', { class: 'muted small' }, k.channel ? `Only ${k.channel.name}` : 'All channels')) },
      { label: 'Created', cls: 'nowrap', cell: (k) => date(k.createdAt) },
      { label: 'Expires', cls: 'nowrap', cell: (k) => (k.expiresAt ? h('time', { datetime: k.expiresAt, title: k.expiresAt }, date(k.expiresAt)) : 'Never') },
      { label: 'Last used', cls: 'nowrap', cell: (k) => (k.lastUsedAt ? h('time', { datetime: k.lastUsedAt, title: k.lastUsedAt }, relative(k.lastUsedAt)) : 'Never') },
      { label: 'Status', cell: status },
      { label: 'Actions', cell: actions },
    ], keys, { class: 'keys' }));
}

function isoDateInDays(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

function createForm(ctx: PageCtx, channels: string[]): HTMLElement {
  const errors = errorBox();
  const name = h('input', { id: 'key-name', name: 'name', type: 'text', required: true, maxlength: '100', autocomplete: 'off' });
  const description = h('input', { id: 'key-description', name: 'description', type: 'text', maxlength: '300', autocomplete: 'off' });
  const expiry = h('select', { id: 'key-expiry', name: 'expiry' }, EXPIRY.map(([v, l]) => h('option', { value: v, selected: v === '30' }, l)));
  const customDate = h('input', { id: 'key-expiry-date', name: 'expiresOn', type: 'date', min: isoDateInDays(1), value: isoDateInDays(30) });
  const customField = field('Expiry date', customDate, 'The key stops working at the start of this day (UTC).');
  customField.hidden = true;
  expiry.addEventListener('change', () => {
    customField.hidden = expiry.value !== 'custom';
    customDate.required = expiry.value === 'custom';
  });
  const mode = h('select', { id: 'key-mode', name: 'accessMode' }, MODES.map(([v, l]) => h('option', { value: v }, l)));
  const channel = h('select', { id: 'key-channel', name: 'channel' },
    h('option', { value: '' }, 'All channels'), channels.map((c) => h('option', { value: c }, c)));
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create key');

  const form = h('form', {
    class: 'card form', 'aria-labelledby': 'create-key',
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      errors.show(null);
      const expiresAt = expiry.value === 'custom'
        ? new Date(`${customDate.value}T00:00:00Z`).toISOString()
        : new Date(Date.now() + Number(expiry.value) * 86_400_000).toISOString();
      submit.disabled = true;
      try {
        const data = await mutate<{ createApiKey: { key: string; name: string } }>(CREATE, {
          name: name.value.trim(), description: description.value.trim() || null, expiresAt,
          accessMode: mode.value, channelName: channel.value || null,
        });
        // The key exists only in this answer: it goes on the redrawn page and nowhere else.
        const created = data.createApiKey;
        ctx.reload({ focus: '#new-key-title', say: `Created ${created.name}`, then: () => showKeyOnce(created.name, created.key) });
      } catch (err) {
        errors.show((err as Error).message);
        submit.disabled = false;
      }
    },
  },
  h('h2', { id: 'create-key' }, 'Create a key'),
  errors,
  h('div', { class: 'row' }, field('Name', name, 'Unique among your keys, e.g. “ci-upload”.'), field('Description', description, 'Optional: what uses it.')),
  h('div', { class: 'row' }, field('Expires in', expiry), customField),
  h('div', { class: 'row' },
    field('Access', mode, 'What the key may do, within what you may do yourself.'),
    field('Channel', channel, 'Limit the key to one channel, or let it act on all of yours.')),
  submit);
  return form;
}

/** Puts the new key above the list. A reload (or leaving the page) drops it for good. */
function showKeyOnce(name: string, key: string): void {
  const slot = document.getElementById('new-key');
  if (!slot) return;
  // A textarea, so the whole key wraps into view on a phone.
  const input = h('textarea', { id: 'new-key-value', rows: '1', readOnly: true, class: 'key-value', spellcheck: 'false', autocomplete: 'off' });
  input.value = key;
  input.addEventListener('focus', () => input.select());
  replace(slot, h('section', { class: 'card new-key', 'aria-labelledby': 'new-key-title' },
    h('h2', { id: 'new-key-title', tabindex: '-1' }, `Your new key “${name}”`),
    h('p', { class: 'alert warn' }, h('strong', null, 'Copy it now: '), 'it will not be shown again. If you lose it, revoke it and create a new one.'),
    h('div', { class: 'copy-line' }, h('label', { for: input.id, class: 'sr-only' }, 'API key'), input, copyButton(key, 'API key')),
    h('button', {
      type: 'button', class: 'button',
      onclick: () => {
        replace(slot);
        document.getElementById('keys')?.focus();
      },
    }, 'Done')));
}
