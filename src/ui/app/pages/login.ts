// `/login?next=…`: sign in with a local account. Its one request asks
// whether a session already exists (then it goes straight on to `next`).
import { ApiError, currentSession, signIn } from '../api.js';
import { errorBox } from '../components.js';
import type { PageCtx } from '../ctx.js';
import { field, h } from '../dom.js';
import { safeNext } from '../router.js';

export async function loginPage(ctx: PageCtx): Promise<void> {
  const next = safeNext(ctx.url.searchParams.get('next'));
  const session = await currentSession().catch(() => null);
  if (!ctx.current()) return;
  if (session) {
    ctx.setViewer(session.login);
    ctx.navigate(next, { replace: true });
    return;
  }
  ctx.setViewer(null);

  const errors = errorBox();
  const login = h('input', { id: 'login', name: 'login', type: 'text', required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' });
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Sign in');
  const form = h('form', {
    class: 'card form narrow', 'aria-labelledby': 'page-title',
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      errors.show(null);
      submit.disabled = true;
      submit.textContent = 'Signing in…';
      try {
        const s = await signIn(login.value.trim(), password.value);
        ctx.setViewer(s.login);
        ctx.navigate(next, { replace: true });
      } catch (err) {
        errors.show(err instanceof ApiError ? err.message : 'Sign-in failed.');
        submit.disabled = false;
        submit.textContent = 'Sign in';
        password.value = '';
        (err instanceof ApiError && err.code === 'UNAUTHENTICATED' ? password : login).focus();
      }
    },
  },
  h('h1', { id: 'page-title', tabindex: '-1' }, 'Sign in'),
  h('p', { class: 'muted' }, 'Use your channeld account. Package managers use API keys instead.'),
  errors,
  field('Username', login),
  field('Password', password),
  submit);
  ctx.show('Sign in', h('div', { class: 'center' }, form));
  login.focus({ preventScroll: true });
}
