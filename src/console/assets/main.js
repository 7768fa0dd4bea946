// The console's shell: who is signed in, the navigation, and which page the hash shows.
import { api, whenSignedOut } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { budgetUsd } from './lib/format.js';
import { current } from './lib/router.js';
import { empty, errorBox, loading, pageHead } from './lib/ui.js';
import { renderInterception } from './pages/interception.js';
import { renderInterceptions } from './pages/interceptions.js';
import { renderMe } from './pages/me.js';
import { renderOverview } from './pages/overview.js';
import { renderSession } from './pages/session.js';
import { renderSessions } from './pages/sessions.js';
import { renderSignIn } from './pages/signin.js';
import { renderTeam, renderTeams } from './pages/teams.js';
import { renderUser } from './pages/user.js';
import { renderUsers } from './pages/users.js';

const SECTIONS = {
  overview: { label: 'Overview', list: renderOverview },
  interceptions: { label: 'Interceptions', list: renderInterceptions, one: renderInterception },
  sessions: { label: 'Sessions', list: renderSessions, one: renderSession },
  users: { label: 'Users', list: renderUsers, one: renderUser, owners: true },
  teams: { label: 'Teams', list: renderTeams, one: renderTeam },
  me: { label: 'Me', list: renderMe },
};

const app = document.getElementById('app');
let user = null;
let main;
let nav;
let banners;

const allowed = (section) => !section.owners || user.role === 'owner';

function shell() {
  nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    Object.entries(SECTIONS)
      .filter(([, section]) => allowed(section))
      .map(([path, section]) => h('a', { href: `#/${path}`, 'data-section': path }, section.label)),
  );
  const signOut = h('button', { type: 'button' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    signOut.disabled = true;
    const out = await api('/session', { method: 'DELETE', quiet401: true }).catch(() => null);
    // A single sign-on session also ends at the identity provider, which sends the browser back here.
    if (out?.logout_url) return location.assign(out.logout_url);
    showSignIn('You are signed out.');
  });
  main = h('main', { id: 'main', tabindex: '-1' });
  banners = h('div', { class: 'banners', role: 'region', 'aria-label': 'Budget notices' });
  fill(
    app,
    h(
      'header',
      { class: 'top' },
      h('a', { class: 'brand', href: '#/overview' }, h('img', { src: iconUrl(), alt: '' }), 'AI Bridge'),
      nav,
      h(
        'div',
        { class: 'who' },
        h('span', { class: 'name', title: user.name || user.username }, user.username),
        h('span', { class: 'badge' }, user.role),
        signOut,
      ),
    ),
    banners,
    main,
  );
  showBanners();
}

const PERCENT = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 0 });
const PERIOD = { day: 'today', week: 'this week', month: 'this month' };

/** Budget notifications of this period for me: my own budget's, my teams' (owners: every team's). */
async function showBanners() {
  let notifications;
  try {
    ({ results: notifications } = await api('/notifications', { quiet401: true }));
  } catch {
    return; // a banner is a courtesy: the pages say the rest
  }
  // The highest share reached per budget.
  const top = new Map();
  for (const n of notifications) {
    const key = `${n.scope.kind}:${n.scope.id}`;
    if (!top.has(key) || top.get(key).share < n.share) top.set(key, n);
  }
  fill(
    banners,
    [...top.values()].map((n) => {
      const whose = n.scope.kind === 'team' ? `Team ${n.scope.name}` : n.scope.id === user.id ? 'You' : n.scope.name;
      const what = n.share >= 1 ? 'reached' : `used ${PERCENT.format(n.share)} of`;
      const link =
        n.scope.kind === 'team'
          ? h('a', { href: `#/teams/${encodeURIComponent(n.scope.name)}` }, 'See the team')
          : null;
      return h(
        'div',
        { class: `notice ${n.share >= 1 ? 'error' : 'warn'}`, role: 'status' },
        h('strong', null, `${whose} ${what} the budget of ${budgetUsd(n.budget.usd)} ${PERIOD[n.budget.period]}.`),
        ' ',
        n.share >= 1 ? 'Model requests are refused until it resets. ' : '',
        link,
      );
    }),
  );
}

/** The icon's URL as the page linked it (versioned). */
const iconUrl = () => document.querySelector('link[rel="icon"]').getAttribute('href');

function route(moveFocus) {
  const { parts, params } = current();
  const [name = 'overview', id, ...rest] = parts;
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.section === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const view = h('div');
  fill(main, view);
  const section = SECTIONS[name];
  if (!section || rest.length || (id !== undefined && !section.one)) {
    view.append(
      pageHead('Page not found'),
      empty('There is no such page.', h('a', { href: '#/overview' }, 'Go to the overview')),
    );
  } else if (!allowed(section)) {
    view.append(pageHead(section.label), empty('Only owners can manage users and their tokens.'));
  } else {
    const render = id === undefined ? section.list : section.one;
    render(view, { user, id, params, everyone: user.role !== 'member' }).catch((err) => {
      view.querySelector('.loading')?.remove();
      view.append(errorBox(err));
    });
  }
  if (moveFocus) (view.querySelector('h1') ?? main).focus();
}

function showSignIn(message) {
  user = null;
  renderSignIn(app, message, (signedIn) => {
    user = signedIn;
    shell();
    route(true);
  });
}

async function boot() {
  fill(app, loading('Loading AI Bridge…'));
  try {
    user = await api('/session', { quiet401: true });
  } catch (err) {
    if (err.status === 401) return showSignIn();
    return fill(app, h('main', null, errorBox(err, boot)));
  }
  shell();
  route(false);
}

window.addEventListener('hashchange', () => {
  if (user) route(true);
});
whenSignedOut(() => {
  if (user) showSignIn('Your session has ended. Sign in again.');
});
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main')?.focus(); // the shell's or the sign-in page's
});
boot();
