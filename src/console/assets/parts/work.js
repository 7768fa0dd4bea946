// Work context (README "Work context"): the repo, branch, PRs and issues an agent named for its
// session, and the annotations that said so. Recorded text is untrusted: only http(s) URLs
// become links; anything else is shown as text.
import { h } from '../lib/dom.js';
import { time } from '../lib/format.js';
import { href } from '../lib/router.js';

/** An http(s) URL as a link (opened apart, telling the other site nothing); anything else as code. */
export function safeLink(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return h('code', null, text);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return h('code', null, text);
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer nofollow' }, text);
}

const links = (urls) =>
  urls.length
    ? h(
        'ul',
        { class: 'links' },
        urls.map((u) => h('li', null, safeLink(u))),
      )
    : '—';

/** The work context as rows of a facts list: [label, value] pairs, none when there is none. */
export function workRows(work) {
  if (!work) return [];
  return [
    [
      'Repository',
      work.repo
        ? h(
            'a',
            { href: href('/interceptions', { q: `repo:${work.repo}` }), title: 'Interceptions of this repository' },
            work.repo,
          )
        : '—',
    ],
    ['Branch', work.branch ? h('code', null, work.branch) : '—'],
    ['Pull requests', links(work.pr_urls)],
    ['Issues', links(work.issue_urls)],
  ];
}

/** Annotations, newest last: what each one set, and when. */
export function annotationList(annotations) {
  return h(
    'ul',
    { class: 'annotations', 'aria-label': 'Work context annotations' },
    annotations.map((a) =>
      h(
        'li',
        null,
        time(a.created_at),
        a.repo ? [' · repo ', h('code', null, a.repo)] : null,
        a.branch ? [' · branch ', h('code', null, a.branch)] : null,
        [...a.pr_urls, ...a.issue_urls].map((u) => [' · ', safeLink(u)]),
        a.note ? h('p', { class: 'note' }, a.note) : null,
      ),
    ),
  );
}
