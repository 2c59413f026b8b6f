// Shared widgets: copy buttons, confirmation dialogs, pagers, tables, badges.
import { announce, h, icon, ICONS, nextId, type Attrs } from './dom.js';

/** The page-wide polite live region (in the shell). */
export const liveRegion = (): HTMLElement => document.getElementById('live')!;

async function copyText(text: string): Promise<boolean> {
  // navigator.clipboard needs a secure context; a server on a LAN address over
  // plain http is not one, so fall back to a selection copy.
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through
    }
  }
  const ta = h('textarea', { class: 'offscreen', readOnly: true, 'aria-hidden': 'true', tabindex: '-1' });
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

/** A button that copies `text`; `what` names it for screen readers ("Copy <what>"). */
export function copyButton(text: string, what: string): HTMLButtonElement {
  const label = h('span', null, 'Copy');
  const btn = h('button', { type: 'button', class: 'button small copy', 'aria-label': `Copy ${what}`, 'data-copy': text }, icon(ICONS.copy), label);
  let timer = 0;
  btn.addEventListener('click', async () => {
    const ok = await copyText(text);
    label.textContent = ok ? 'Copied' : 'Copy failed';
    announce(liveRegion(), ok ? `Copied ${what}` : `Could not copy ${what}; select it and copy by hand`);
    window.clearTimeout(timer);
    timer = window.setTimeout(() => (label.textContent = 'Copy'), 2000);
  });
  return btn;
}

/** A read-only line of text (a command, a URL, a key) with a copy button. */
export function copyLine(text: string, what: string, label?: string): HTMLElement {
  return h('div', { class: 'copy-line' },
    label ? h('span', { class: 'copy-label' }, label) : null,
    h('code', { class: 'copy-text' }, text),
    copyButton(text, what));
}

export interface ConfirmOptions {
  title: string;
  body: Node | string;
  confirmLabel: string;
  danger?: boolean;
  /** The user must type this (e.g. the channel's name) before confirming. */
  typeToConfirm?: string;
}

/** A modal confirmation; resolves true only when confirmed. Escape or Cancel resolve false. */
export function confirmDialog(opts: ConfirmOptions): Promise<boolean> {
  const titleId = nextId('dlg');
  const returnFocus = document.activeElement as HTMLElement | null;
  const confirm = h('button', { type: 'submit', value: 'confirm', class: opts.danger ? 'button danger' : 'button primary' }, opts.confirmLabel);
  // Cancel is not a submit button, so Enter in the text field means confirm.
  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
  let typed: HTMLInputElement | null = null;
  if (opts.typeToConfirm !== undefined) {
    const expected = opts.typeToConfirm;
    typed = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', id: nextId('confirm') });
    confirm.disabled = true;
    typed.addEventListener('input', () => (confirm.disabled = typed!.value !== expected));
  }
  const form = h('form', { method: 'dialog' },
    h('h2', { id: titleId }, opts.title),
    h('div', { class: 'dialog-body' }, opts.body),
    typed ? h('div', { class: 'field' }, h('label', { for: typed.id }, 'Type ', h('strong', null, opts.typeToConfirm!), ' to confirm'), typed) : null,
    h('div', { class: 'actions' }, cancel, confirm));
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, form);
  cancel.addEventListener('click', () => dialog.close('cancel'));
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'confirm';
      dialog.remove();
      if (returnFocus?.isConnected) returnFocus.focus();
      resolve(ok);
    });
    dialog.showModal();
    (typed ?? cancel).focus();
  });
}

/** Previous / "Page n of m" / Next, as links (stable URLs). `page` is 0-based. */
export function pager(page: number, pages: number, hrefFor: (page: number) => string, label = 'Pages'): HTMLElement | null {
  if (pages <= 1) return null;
  return h('nav', { class: 'pager', 'aria-label': label },
    page > 0 ? h('a', { class: 'button', href: hrefFor(page - 1), rel: 'prev' }, '← Previous') : h('span', { class: 'button', 'aria-disabled': 'true' }, '← Previous'),
    h('span', { class: 'pager-status' }, `Page ${page + 1} of ${pages}`),
    page < pages - 1 ? h('a', { class: 'button', href: hrefFor(page + 1), rel: 'next' }, 'Next →') : h('span', { class: 'button', 'aria-disabled': 'true' }, 'Next →'));
}

export interface Column<T> {
  label: string;
  cell: (row: T) => Node | string | null;
  cls?: string;
}

/** A table that becomes a stack of labelled cards on narrow screens. */
export function table<T>(caption: string, columns: Column<T>[], rows: T[], attrs: Attrs = {}): HTMLElement {
  return h('div', { class: 'table-wrap' },
    h('table', { ...attrs, class: `table ${attrs.class ?? ''}`.trim() },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.cls }, c.label)))),
      h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { 'data-label': c.label, class: c.cls }, c.cell(r))))))));
}

export function badge(text: string, kind: 'public' | 'private' | 'warn' | 'ok' | 'muted' = 'muted'): HTMLElement {
  return h('span', { class: `badge ${kind}` }, kind === 'private' ? icon(ICONS.lock, 'icon tiny') : null, text);
}

export const visibilityBadge = (isPublic: boolean): HTMLElement => (isPublic ? badge('Public', 'public') : badge('Private', 'private'));

/** An inline error box for forms (role=alert so it is read out when it appears). */
export function errorBox(): HTMLElement & { show(msg: string | null): void } {
  const el = h('div', { class: 'alert error', role: 'alert', hidden: true }) as unknown as HTMLElement & { show(msg: string | null): void };
  el.show = (msg) => {
    el.textContent = msg ?? '';
    el.hidden = !msg;
  };
  return el;
}

/** A search form that navigates to ?q=… (Enter submits; the label is visible to screen readers). */
export function searchForm(label: string, value: string, onSearch: (q: string) => void, placeholder = 'Search'): HTMLFormElement {
  const input = h('input', { type: 'search', name: 'q', value, placeholder, autocomplete: 'off', spellcheck: 'false', id: nextId('search') });
  return h('form', {
    class: 'search', role: 'search',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      onSearch(input.value.trim());
    },
  },
  h('label', { for: input.id, class: 'sr-only' }, label),
  icon(ICONS.search, 'icon search-icon'),
  input,
  h('button', { type: 'submit', class: 'button' }, 'Search'));
}

/** Only http(s) links from package metadata become hrefs (no javascript: URLs). */
export function safeHref(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}
