// What a page gets from the app: where it is, where to draw, and how to move on.
import { ApiError } from './api.js';
import { h, replace } from './dom.js';
import { paths, type Route } from './router.js';

type Content = Node | string | null | false | undefined | Content[];

export interface AfterReload {
  focus?: string;
  say?: string;
  then?: () => void;
}

export interface PageCtx {
  route: Route;
  url: URL;
  main: HTMLElement;
  /** False once the user has navigated elsewhere: a page must not draw then. */
  current(): boolean;
  /** Who is signed in, as the page's own query said (null: anonymous). */
  setViewer(login: string | null): void;
  viewer(): string | null;
  navigate(to: string, opts?: { replace?: boolean }): void;
  /**
   * Re-runs the current page (after a mutation), then moves focus to `focus`
   * (a selector) and announces `say`. `then` runs on the fresh page first.
   */
  reload(opts?: AfterReload): void;
  /** Draws the page: title, then content; moves focus to its heading after in-app navigation. */
  show(title: string, ...content: Content[]): void;
}

export function errorPage(ctx: PageCtx, status: number, title: string, message: string, extra?: Node): void {
  const here = ctx.url.pathname + ctx.url.search;
  const signedOut = ctx.viewer() === null;
  ctx.show(title, h('section', { class: 'error-page', 'aria-labelledby': 'page-title' },
    h('p', { class: 'error-code', 'aria-hidden': 'true' }, String(status)),
    h('h1', { id: 'page-title', tabindex: '-1' }, title),
    h('p', { class: 'lead' }, message),
    extra ?? null,
    h('p', { class: 'actions' },
      h('a', { class: 'button primary', href: paths.home() }, 'Browse channels'),
      signedOut && status !== 500 ? h('a', { class: 'button', href: paths.login(here) }, 'Sign in') : null)));
}

export function notFound(ctx: PageCtx, what = 'page'): void {
  const signedOut = ctx.viewer() === null;
  errorPage(ctx, 404, `${what[0]!.toUpperCase()}${what.slice(1)} not found`,
    signedOut
      ? `There is no ${what} here that you can see. If it is private, sign in with an account that may read it.`
      : `There is no ${what} here that you can see. Check the address, or ask the channel's owner for access.`);
}

export function forbidden(ctx: PageCtx, message: string): void {
  errorPage(ctx, 403, 'Not allowed', message);
}

/** Draws the right page for an API failure that stopped the whole page. */
export function failurePage(ctx: PageCtx, err: unknown): void {
  if (err instanceof ApiError) {
    if (err.code === 'UNAUTHENTICATED') {
      ctx.navigate(paths.login(ctx.url.pathname + ctx.url.search), { replace: true });
      return;
    }
    if (err.code === 'FORBIDDEN') return forbidden(ctx, err.message);
    if (err.code === 'NOT_FOUND') return notFound(ctx);
    if (err.code === 'TOO_MANY_REQUESTS') return errorPage(ctx, 429, 'Too many requests', err.message);
    const retry = h('p', null, h('button', { type: 'button', class: 'button', onclick: () => ctx.reload({ focus: 'h1' }) }, 'Try again'));
    return errorPage(ctx, 500, err.code === 'NETWORK' ? 'Server unreachable' : 'Something went wrong', err.message, retry);
  }
  console.error(err);
  errorPage(ctx, 500, 'Something went wrong', 'The page could not be shown. Reload to try again.');
}

export function loading(main: HTMLElement): void {
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
}
