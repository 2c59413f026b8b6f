// The header's account area: "Sign in" when anonymous; otherwise a user
// button opening a small menu (Settings → API keys, Sign out). It is a
// disclosure, not an ARIA menu: Tab moves through its links, Escape closes.
import { signOut } from './api.js';
import { announce, h, icon, ICONS, replace } from './dom.js';
import { liveRegion } from './components.js';
import { paths } from './router.js';

export interface ShellActions {
  signedOut(): void;
  here(): string;
}

let shown: string | null | undefined;

export function renderUserArea(area: HTMLElement, login: string | null, actions: ShellActions, onLoginPage: boolean): void {
  const key = login === null ? (onLoginPage ? '\0login' : null) : login;
  if (shown === key && area.childElementCount > 0) return;
  shown = key;
  if (login === null) {
    replace(area, onLoginPage ? null : h('a', { class: 'button primary', href: paths.login(actions.here()) }, 'Sign in'));
    return;
  }
  const panelId = 'user-menu';
  const button = h('button', {
    type: 'button', class: 'user-button', 'aria-expanded': 'false', 'aria-controls': panelId, 'aria-label': `Account menu for ${login}`,
  }, icon(ICONS.user), h('span', { class: 'user-login' }, login));
  const signOutButton = h('button', { type: 'button', class: 'menu-item' }, 'Sign out');
  const panel = h('div', { id: panelId, class: 'menu-panel', hidden: true },
    h('p', { class: 'menu-who' }, 'Signed in as ', h('strong', null, login)),
    h('p', { class: 'menu-heading', id: 'menu-settings' }, 'Settings'),
    h('ul', { class: 'menu-list', 'aria-labelledby': 'menu-settings' },
      h('li', null, h('a', { class: 'menu-item', href: paths.apiKeys }, 'API keys'))),
    h('hr'),
    signOutButton);
  const wrap = h('div', { class: 'menu' }, button, panel);

  const setOpen = (open: boolean, focusButton = false) => {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) (panel.querySelector('a, button') as HTMLElement | null)?.focus();
    else if (focusButton) button.focus();
  };
  button.addEventListener('click', () => setOpen(panel.hidden));
  wrap.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !panel.hidden) {
      ev.preventDefault();
      setOpen(false, true);
    }
  });
  // Leaving the menu (by Tab or a click elsewhere) closes it.
  wrap.addEventListener('focusout', (ev) => {
    if (!wrap.contains(ev.relatedTarget as Node | null)) setOpen(false);
  });
  document.addEventListener('click', (ev) => {
    if (!panel.hidden && !wrap.contains(ev.target as Node)) setOpen(false);
  });
  panel.addEventListener('click', (ev) => {
    if ((ev.target as Element).closest('a')) setOpen(false);
  });
  signOutButton.addEventListener('click', async () => {
    signOutButton.disabled = true;
    try {
      await signOut();
      setOpen(false);
      actions.signedOut();
      announce(liveRegion(), 'Signed out');
    } catch (err) {
      signOutButton.disabled = false;
      announce(liveRegion(), (err as Error).message);
    }
  });
  replace(area, wrap);
}
