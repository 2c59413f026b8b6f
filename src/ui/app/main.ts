// channeld's web UI: one inlined script. Each page costs the document plus
// one GraphQL request; in-app links swap pages without reloading.
import { TOKEN_STORAGE_KEY, csrfToken, forgetSession } from './api.js';
import { failurePage, loading, type AfterReload, type PageCtx } from './ctx.js';
import { liveRegion } from './components.js';
import { announce, append, replace } from './dom.js';
import { apiKeysPage } from './pages/api-keys.js';
import { channelPage } from './pages/channel.js';
import { homePage } from './pages/home.js';
import { loginPage } from './pages/login.js';
import { packagePage } from './pages/package.js';
import { notFoundPage } from './pages/not-found.js';
import { isUiPath, matchRoute, paths, type Route } from './router.js';
import { renderUserArea } from './shell.js';

const main = document.getElementById('main')!;
const userArea = document.getElementById('user-area')!;

const pages: { [K in Route['name']]: (ctx: PageCtx) => Promise<void> } = {
  home: homePage,
  channel: channelPage,
  package: packagePage,
  apiKeys: apiKeysPage,
  login: loginPage,
  notFound: notFoundPage,
};

let seq = 0;
let inApp = false;
/** Path and query last drawn: a change of #fragment alone (the skip link) is no new page. */
let drawn = '';
let viewer: string | null = null;

function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  inApp = true;
  run();
}

function setViewer(login: string | null, route: Route): void {
  // The page thought it was signed in, the server says anonymous: the session ended.
  if (login === null && csrfToken()) forgetSession();
  viewer = login;
  renderUserArea(userArea, login, {
    here: () => location.pathname + location.search,
    signedOut: () => {
      viewer = null;
      navigate(paths.home());
    },
  }, route.name === 'login');
}

/** Draws the page at location; `after` is set when redrawing after a change on the same page. */
function run(after: AfterReload | null = null): void {
  const mine = ++seq;
  const url = new URL(location.href);
  drawn = url.pathname + url.search;
  const route = matchRoute(url.pathname);
  const focusHeading = inApp && after === null;
  const ctx: PageCtx = {
    route,
    url,
    main,
    current: () => seq === mine,
    setViewer: (login) => {
      if (seq === mine) setViewer(login, route);
    },
    viewer: () => viewer,
    navigate,
    reload: (opts) => run(opts ?? {}),
    show(title, ...content) {
      if (seq !== mine) return;
      document.title = title ? `${title} · channeld` : 'channeld';
      replace(main);
      append(main, content as Parameters<typeof append>[1]);
      main.removeAttribute('aria-busy');
      main.inert = false;
      after?.then?.();
      if (after?.focus) {
        (main.querySelector(after.focus) as HTMLElement | null)?.focus();
      } else if (focusHeading) {
        window.scrollTo(0, 0);
        ((main.querySelector('h1') as HTMLElement | null) ?? main).focus({ preventScroll: true });
      }
      if (after?.say) announce(liveRegion(), after.say);
      performance.mark('channeld:content');
    },
  };
  main.setAttribute('aria-busy', 'true');
  // The page being replaced stays in view until the new one is drawn, but takes no input:
  // whatever went into it (a name typed into the sign-in form still showing under
  // /settings/api-keys) would be thrown away with it.
  main.inert = true;
  // Only slow pages flash a loading line; fast ones go straight to content.
  const timer = window.setTimeout(() => {
    if (ctx.current()) loading(main);
  }, 300);
  pages[route.name](ctx)
    .catch((err: unknown) => {
      if (ctx.current()) failurePage(ctx, err);
    })
    .finally(() => window.clearTimeout(timer));
}

document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = (ev.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download') || (a.getAttribute('href') ?? '').startsWith('#')) return;
  if (a.origin !== location.origin || !isUiPath(a.pathname)) return;
  ev.preventDefault();
  navigate(a.pathname + a.search);
});

window.addEventListener('popstate', () => {
  if (location.pathname + location.search === drawn) return;
  inApp = true;
  run();
});

// Signing in or out in another tab changes what this one may show.
window.addEventListener('storage', (ev) => {
  if (ev.key === TOKEN_STORAGE_KEY) run();
});

run();
