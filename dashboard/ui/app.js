// devk dashboard: renders the JSON API under api/ (relative URLs, so the page works at
// any path prefix) and keeps every list current with one event stream per view.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);

// h builds an element: h('a', {href: '#', class: 'x', onclick: fn}, 'text', child).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const state = {
  resources: {},                          // kind -> descriptor from api/resources
  namespace: localStorage.getItem('devk-namespace') || '',
  cleanup: [],                            // what the current view must close when left
  filter: '',                             // the filter box: name words and label=value terms
  redraw: null,                           // redraws the current view's lists when the filter changes
};

const VIEWS = {
  overview: { title: 'Overview' },
  namespaces: { title: 'Namespaces', kinds: ['namespaces'] },
  workloads: { title: 'Workloads', kinds: ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'pods'] },
  services: { title: 'Services', kinds: ['services'] },
  ingresses: { title: 'Ingresses', kinds: ['ingresses'] },
  configmaps: { title: 'ConfigMaps', kinds: ['configmaps'] },
  secrets: { title: 'Secrets', kinds: ['secrets'] },
  storage: { title: 'Storage', kinds: ['persistentvolumeclaims', 'persistentvolumes'] },
  events: { title: 'Events', kinds: ['events'] },
};

// ---- the filter box ---------------------------------------------------------------

// A row matches when it matches every term: label=value and label!=value test its
// labels, any other word is part of its name (for an event, the object it is about).
function rowMatches(row, terms) {
  const labels = row.labels || {};
  return terms.every((t) => {
    const ne = t.indexOf('!=');
    if (ne > 0) return labels[t.slice(0, ne)] !== t.slice(ne + 2);
    const eq = t.indexOf('=');
    if (eq > 0) return labels[t.slice(0, eq)] === t.slice(eq + 1);
    return displayName(row).toLowerCase().includes(t.toLowerCase());
  });
}

function filterRows(rows) {
  const terms = state.filter.trim().split(/\s+/).filter(Boolean);
  return terms.length ? rows.filter((r) => rowMatches(r, terms)) : rows;
}

// ---- API ----------------------------------------------------------------------

async function api(path, opts) {
  const r = await fetch(path, opts);
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
const getJSON = async (path) => (await api(path)).json();
const post = async (path, body) => (await api(path, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'X-Devk-Dashboard': '1' },
  body: JSON.stringify(body),
})).json();
const q = (params) => new URLSearchParams(params).toString();

// ---- small UI pieces ------------------------------------------------------------

function toast(msg, bad) {
  const t = h('div', { class: 'toast' + (bad ? ' bad' : ''), role: 'status' }, msg);
  $('#toasts').append(t);
  setTimeout(() => t.remove(), bad ? 8000 : 4000);
}

function setLive(on, text) {
  const el = $('#live');
  el.className = 'live ' + (on ? 'on' : 'off');
  el.textContent = text || (on ? 'live' : 'reconnecting');
}

function age(t) {
  if (!t) return '';
  let s = Math.max(0, Math.floor((Date.now() - Date.parse(t)) / 1000));
  if (s < 120) return s + 's';
  const m = Math.floor(s / 60);
  if (m < 120) return m + 'm';
  const hr = Math.floor(m / 60);
  if (hr < 48) return hr + 'h' + (hr < 10 && m % 60 ? (m % 60) + 'm' : '');
  return Math.floor(hr / 24) + 'd';
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + units[i];
}
const cores = (m) => (m / 1000).toFixed(m % 1000 ? 2 : 0).replace(/\.?0+$/, '') + ' CPU';

// loadScript and loadStyle add a file of the dashboard's own to the page, once.
const loaded = {};
function loadScript(src) {
  loaded[src] ||= new Promise((resolve, reject) => {
    document.head.append(h('script', { src, onload: resolve, onerror: () => reject(new Error(src + ' is not in this build')) }));
  });
  return loaded[src];
}
function loadStyle(href) {
  if (!loaded[href]) { loaded[href] = true; document.head.append(h('link', { rel: 'stylesheet', href })); }
}

function pill(cell) {
  return cell.status ? h('span', { class: 'pill ' + cell.status }, cell.text) : cell.text;
}

// dialog shows a modal form; onOk runs on submit and closes it unless it throws.
function dialog(title, body, okText, onOk, danger) {
  const d = $('#dialog');
  const form = h('form', { method: 'dialog' },
    h('h3', {}, title), body,
    h('div', { class: 'buttons' },
      h('button', { type: 'button', onclick: () => d.close(), 'data-action': 'cancel' }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' + (danger ? ' danger' : ''), 'data-action': 'confirm' }, okText)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await onOk(form); d.close(); } catch (err) { toast(err.message, true); }
  });
  d.replaceChildren(form);
  d.showModal();
  const input = form.querySelector('input');
  if (input) { input.focus(); input.select(); }
}

// ---- row actions ----------------------------------------------------------------

const ident = (row) => ({ kind: row.kind, namespace: row.namespace, name: row.name });

const ACTIONS = {
  scale: (row) => h('button', {
    'data-action': 'scale', title: 'Set the replica count',
    onclick: () => dialog('Scale ' + row.namespace + '/' + row.name,
      h('label', {}, 'Replicas ', h('input', { type: 'number', min: 0, max: 100, value: row.replicas ?? 1, id: 'scale-replicas', required: true })),
      'Scale', async (form) => {
        const n = parseInt(form.querySelector('input').value, 10);
        await post('api/scale', { ...ident(row), replicas: n });
        toast(`Scaled ${row.name} to ${n}`);
      }),
  }, 'Scale'),
  restart: (row) => h('button', {
    'data-action': 'restart', title: 'Restart every pod, one by one, as kubectl rollout restart does',
    onclick: async () => {
      try { await post('api/restart', ident(row)); toast('Restarting ' + row.name); } catch (e) { toast(e.message, true); }
    },
  }, 'Restart'),
  logs: (row) => h('button', {
    'data-action': 'logs', title: row.kind === 'pods' ? "Stream the pod's log" : 'Stream the logs of all its pods at once',
    onclick: () => {
      location.hash = row.kind === 'pods' ? `#/logs/${enc(row.namespace)}/${enc(row.name)}` : `#/wlogs/${row.kind}/${enc(row.namespace)}/${enc(row.name)}`;
    },
  }, 'Logs'),
  shell: (row) => h('button', {
    'data-action': 'shell', title: 'Open a shell in a container of the pod',
    onclick: () => { location.hash = `#/shell/${enc(row.namespace)}/${enc(row.name)}`; },
  }, 'Shell'),
  forward: (row) => h('button', {
    'data-action': 'forward', title: 'Forward a port to 127.0.0.1 on this machine',
    onclick: () => forwardDialog(row),
  }, 'Forward'),
  delete: (row) => h('button', {
    class: 'danger', 'data-action': 'delete',
    onclick: () => dialog('Delete pod ' + row.namespace + '/' + row.name + '?',
      h('p', { class: 'note' }, 'Its controller, if any, replaces it.'),
      'Delete', async () => { await post('api/delete', ident(row)); toast('Deleted ' + row.name); }, true),
  }, 'Delete'),
  reveal: (row) => h('button', {
    'data-action': 'reveal', onclick: () => { location.hash = `#/secret/${enc(row.namespace)}/${enc(row.name)}`; },
  }, 'Show'),
};

const enc = encodeURIComponent;

function objectLink(row) {
  if (row.kind === 'secrets') return `#/secret/${enc(row.namespace)}/${enc(row.name)}`;
  return `#/object/${row.kind}/${enc(row.namespace || '-')}/${enc(row.name)}`;
}

// forwardDialog asks which port of a pod or Service to forward, starts it and shows
// the forwards.
function forwardDialog(row) {
  const ports = row.ports || [];
  const input = ports.length > 1
    ? h('select', { id: 'forward-port' }, ports.map((p) => h('option', { value: p }, p)))
    : h('input', { type: 'number', min: 1, max: 65535, value: ports[0] || 80, id: 'forward-port', required: true });
  dialog('Forward ' + row.namespace + '/' + row.name,
    h('div', {}, h('label', {}, (row.kind === 'services' ? 'Service port ' : 'Pod port '), input),
      h('p', { class: 'note' }, 'It listens on 127.0.0.1 on this machine while devk dashboard runs.')),
    'Forward', async (form) => {
      const port = parseInt(form.querySelector('#forward-port').value, 10);
      const fw = await post('api/forwards', { kind: row.kind, namespace: row.namespace, name: row.name, port });
      toast(`Forwarding ${fw.url} → ${fw.pod}:${fw.podPort}`);
      location.hash = '#/forwards';
    });
}

// ---- list views -----------------------------------------------------------------

// openStream follows an event stream for the current view, closed when it is left.
function openStream(url, onMessage, events) {
  const es = new EventSource(url);
  es.onopen = () => setLive(true);
  es.onerror = () => setLive(false);
  if (onMessage) es.onmessage = (e) => onMessage(JSON.parse(e.data));
  for (const [name, fn] of Object.entries(events || {})) es.addEventListener(name, fn);
  state.cleanup.push(() => es.close());
  return es;
}

function every(ms, fn) {
  const id = setInterval(fn, ms);
  state.cleanup.push(() => clearInterval(id));
}

function compareRows(kind) {
  if (kind === 'events') return (a, b) => (b.time || '').localeCompare(a.time || '');
  return (a, b) => (a.namespace || '').localeCompare(b.namespace || '') || a.name.localeCompare(b.name);
}

// An event's generated name says nothing: its row is named by the object it is about
// (the column of that name, which it then leaves out).
const NAME_COLUMN = { events: 'Object' };

function displayName(row) {
  const res = state.resources[row.kind];
  const i = res ? res.columns.indexOf(NAME_COLUMN[row.kind]) : -1;
  return i >= 0 && row.cells[i] ? row.cells[i].text : row.name;
}

function renderTable(res, rows, allNamespaces) {
  const showNs = res.namespaced && allNamespaces;
  const nameCol = res.columns.indexOf(NAME_COLUMN[res.name]);
  const cols = (list) => list.filter((_, i) => i !== nameCol);
  const head = h('tr', {}, h('th', {}, nameCol >= 0 ? res.columns[nameCol] : 'Name'), showNs && h('th', {}, 'Namespace'),
    cols(res.columns).map((c) => h('th', {}, c)), h('th', {}, res.name === 'events' ? 'Last seen' : 'Age'),
    res.actions && res.actions.length ? h('th', {}) : null);
  const body = rows.map((row) => h('tr', { dataset: { kind: row.kind, namespace: row.namespace || '', name: row.name } },
    h('td', { class: 'name' }, h('a', { href: objectLink(row) }, nameCol >= 0 ? row.cells[nameCol].text : row.name)),
    showNs && h('td', {}, row.namespace),
    cols(row.cells).map((c) => h('td', {}, c.url ? h('a', { href: c.url, target: '_blank', rel: 'noopener' }, c.text) : pill(c))),
    h('td', { class: 'age', title: row.time }, age(row.time)),
    res.actions && res.actions.length ? h('td', { class: 'actions' }, res.actions.map((a) => ACTIONS[a](row))) : null));
  return h('table', {}, h('thead', {}, head), h('tbody', {}, body));
}

function renderLists(view) {
  const root = $('#view');
  const stores = {};
  const sections = {};
  for (const kind of view.kinds) {
    const res = state.resources[kind];
    stores[kind] = new Map();
    const count = h('span', { class: 'count' }, '…');
    const wrap = h('div', { class: 'table-wrap' }, h('div', { class: 'empty' }, 'Loading…'));
    const sec = h('section', { class: 'card', dataset: { kind } }, h('h2', {}, res.title, count), wrap);
    sections[kind] = { res, count, wrap, sec, dirty: false };
    root.append(sec);
  }
  const draw = (kind) => {
    const s = sections[kind];
    const all = [...stores[kind].values()].sort(compareRows(kind));
    const rows = filterRows(all);
    s.count.textContent = rows.length === all.length ? all.length : rows.length + '/' + all.length;
    // An empty kind is only its title, so a view of many kinds stays short.
    s.sec.classList.toggle('none', view.kinds.length > 1 && !all.length && !s.error);
    if (s.error) {
      s.wrap.replaceChildren(h('div', { class: 'error' }, s.error));
    } else if (!all.length) {
      s.wrap.replaceChildren(h('div', { class: 'empty' }, 'No ' + s.res.title.toLowerCase() + (s.res.namespaced && state.namespace ? ' in ' + state.namespace : '') + '.'));
    } else if (!rows.length) {
      s.wrap.replaceChildren(h('div', { class: 'empty' }, 'Nothing matches the filter.'));
    } else {
      s.wrap.replaceChildren(renderTable(s.res, rows, !state.namespace));
    }
  };
  state.redraw = () => view.kinds.forEach(draw);
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    for (const kind of view.kinds) if (sections[kind].dirty) { sections[kind].dirty = false; draw(kind); }
  };
  openStream('api/watch?' + q({ kinds: view.kinds.join(','), namespace: state.namespace }), (c) => {
    const store = stores[c.kind];
    if (!store) return;
    sections[c.kind].error = null;
    switch (c.type) {
      case 'reset': store.clear(); for (const r of c.rows || []) store.set(r.uid, r); break;
      case 'upsert': for (const r of c.rows) store.set(r.uid, r); break;
      case 'delete': for (const r of c.rows) store.delete(r.uid); break;
      case 'error': sections[c.kind].error = c.error; break;
    }
    sections[c.kind].dirty = true;
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  });
  every(10000, () => view.kinds.forEach(draw)); // ages move on
}

// ---- overview -------------------------------------------------------------------

// meter shows what is used (when metrics-server answers) and requested of a total.
function meter(label, used, requested, total, fmt) {
  const pct = (v) => Math.min(100, total ? (100 * v) / total : 0);
  const bar = (v, cls) => {
    const inner = h('div');
    inner.style.width = pct(v).toFixed(1) + '%';
    return h('div', { class: 'bar ' + cls }, inner);
  };
  const headline = used !== undefined ? `${pct(used).toFixed(0)}% used` : `${pct(requested).toFixed(0)}% requested`;
  const detail = [];
  if (used !== undefined) detail.push(`used ${fmt(used)}`);
  detail.push(`requested ${fmt(requested)}`);
  return h('div', { class: 'meter', dataset: { meter: label } },
    h('div', { class: 'label' }, h('strong', {}, label), h('span', {}, headline)),
    used !== undefined ? bar(used, 'use') : null, bar(requested, 'req'),
    h('div', { class: 'detail' }, detail.join(' · ') + ' of ' + fmt(total)));
}

function drawOverview(root, ov) {
  const cards = [];
  for (const n of ov.nodes) {
    cards.push(h('section', { class: 'card', dataset: { node: n.name } },
      h('h2', {}, 'Node ', n.name, h('span', { class: 'pill ' + (n.ready ? 'ok' : 'bad') }, n.ready ? 'Ready' : 'NotReady')),
      h('div', { class: 'body' }, h('dl', { class: 'facts' },
        h('dt', {}, 'Kubernetes'), h('dd', {}, n.version),
        h('dt', {}, 'Internal IP'), h('dd', { class: 'mono' }, n.internalIP),
        h('dt', {}, 'OS'), h('dd', {}, n.os),
        h('dt', {}, 'Kernel'), h('dd', {}, n.kernel),
        h('dt', {}, 'Runtime'), h('dd', {}, n.runtime),
        h('dt', {}, 'Age'), h('dd', {}, age(n.created))))));
    const u = n.usage || {};
    cards.push(h('section', { class: 'card' },
      h('h2', {}, 'Capacity and usage'),
      h('div', { class: 'body' },
        meter('CPU', n.usage ? u.cpuMilli : undefined, n.requested.cpuMilli, n.allocatable.cpuMilli, cores),
        meter('Memory', n.usage ? u.memoryBytes : undefined, n.requested.memoryBytes, n.allocatable.memoryBytes, bytes),
        meter('Pods', undefined, n.requested.pods || 0, n.allocatable.pods, (v) => String(v)),
        ov.metrics ? h('p', { class: 'note' }, 'Usage from metrics-server; requests are what pods reserve.')
          : h('p', { class: 'note' }, 'Usage needs metrics-server: ', h('code', {}, 'devk addons enable metrics-server'), '. Bars show what pods request.'))));
  }
  const c = ov.counts;
  const tile = (n, label, view) => h('a', { class: 'tile', href: '#/' + view }, h('div', { class: 'n' }, n), h('div', { class: 'l' }, label));
  cards.push(h('section', { class: 'card' }, h('h2', {}, 'Objects'), h('div', { class: 'body' }, h('div', { class: 'tiles' },
    tile(c.namespaces || 0, 'Namespaces', 'namespaces'),
    tile(`${c['pods:Running'] || 0}/${c.pods || 0}`, 'Pods running', 'workloads'),
    tile(c.deployments || 0, 'Deployments', 'workloads'),
    tile(c.statefulsets || 0, 'StatefulSets', 'workloads'),
    tile(c.daemonsets || 0, 'DaemonSets', 'workloads'),
    tile(c.services || 0, 'Services', 'services'),
    tile(c.persistentvolumeclaims || 0, 'Volume claims', 'storage')))));
  cards.push(h('section', { class: 'card' }, h('h2', {}, 'Recent warnings', h('span', { class: 'count' }, ov.warnings.length)),
    ov.warnings.length ? h('div', { class: 'body' }, h('ul', { class: 'warnings' }, ov.warnings.map((w) => h('li', {},
      h('span', { class: 'what' }, w.cells[1].text, ' · ', w.cells[2].text),
      h('span', { class: 'note' }, ' ', age(w.time), ' ago'), h('div', {}, w.cells[3].text)))))
      : h('div', { class: 'empty' }, 'No warnings. ')));
  root.replaceChildren(h('div', { class: 'grid' }, cards));
}

function renderOverview() {
  const root = h('div', {}, h('div', { class: 'empty' }, 'Loading…'));
  $('#view').append(root);
  let timer = null;
  const refresh = async () => {
    try { drawOverview(root, await getJSON('api/overview')); } catch (e) { root.replaceChildren(h('div', { class: 'card error' }, e.message)); }
  };
  const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; refresh(); }, 800); };
  state.cleanup.push(() => clearTimeout(timer));
  refresh();
  openStream('api/watch?' + q({ kinds: 'nodes,pods,deployments' }), soon);
  every(10000, refresh);
}

// ---- logs -----------------------------------------------------------------------

const MAX_LOG_LINES = 5000;

async function renderLogs(ns, pod, container) {
  const root = $('#view');
  $('#title').textContent = 'Logs · ' + ns + '/' + pod;
  const lines = h('div', { id: 'log-lines' });
  const out = h('pre', { class: 'log', id: 'log-output' }, lines);
  const select = h('select', { id: 'log-container' });
  const follow = h('input', { type: 'checkbox', checked: true, id: 'log-follow' });
  const wrap = h('input', { type: 'checkbox', id: 'log-wrap' });
  const status = h('span', { class: 'note', id: 'log-status' }, 'connecting…');
  root.append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' },
      h('a', { href: '#/workloads' }, '← Workloads'),
      h('label', {}, 'Container ', select),
      h('label', {}, follow, 'Follow'),
      h('label', {}, wrap, 'Wrap lines'),
      h('button', { onclick: () => lines.replaceChildren() }, 'Clear'),
      h('span', { class: 'spacer' }), status),
    out));
  wrap.addEventListener('change', () => out.classList.toggle('wrap', wrap.checked));
  let es = null;
  const sys = (text) => lines.append(h('div', { class: 'line sys' }, text));
  const start = () => {
    if (es) es.close();
    lines.replaceChildren();
    status.textContent = 'connecting…';
    es = new EventSource('api/logs?' + q({ namespace: ns, name: pod, container: select.value, follow: follow.checked ? 1 : 0 }));
    es.onopen = () => { status.textContent = follow.checked ? 'streaming' : 'loaded'; setLive(true); };
    es.addEventListener('line', (e) => {
      const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 30;
      lines.append(h('div', { class: 'line' }, JSON.parse(e.data)));
      while (lines.childElementCount > MAX_LOG_LINES) lines.firstElementChild.remove();
      if (stick) out.scrollTop = out.scrollHeight;
    });
    es.addEventListener('end', (e) => {
      es.close();
      const why = JSON.parse(e.data);
      status.textContent = 'ended';
      if (follow.checked) sys('— the log ended' + (why ? ': ' + why : '') + ' —');
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) return;
      es.close();
      status.textContent = 'disconnected';
      sys('— disconnected; pick the container again to reconnect —');
    };
  };
  state.cleanup.push(() => es && es.close());
  select.addEventListener('change', start);
  follow.addEventListener('change', start);
  try {
    const list = await getJSON('api/list?' + q({ kind: 'pods', namespace: ns }));
    const row = list.rows.find((r) => r.name === pod);
    if (!row) throw new Error(`pod ${ns}/${pod} not found`);
    // App containers come first: the default is the first of them.
    for (const c of row.containers || []) select.append(h('option', { value: c }, c));
    if (container) select.value = container;
  } catch (e) {
    status.textContent = e.message;
    return;
  }
  start();
}

// ---- an object's page: its related objects, events and YAML (edit and apply) --------

const singular = (kind) => (state.resources[kind] ? state.resources[kind].kind : kind);

// sectionCard is a card with a table of rows of one kind, which follows the filter box.
function sectionCard(kind, title, attrs) {
  const res = state.resources[kind] || { name: kind, title, columns: [], actions: [] };
  const count = h('span', { class: 'count' }, '…');
  const wrap = h('div', { class: 'table-wrap' }, h('div', { class: 'empty' }, 'Loading…'));
  const sec = h('section', { class: 'card', ...attrs }, h('h2', {}, title, count), wrap);
  let rows = [];
  const draw = () => {
    const shown = filterRows(rows);
    count.textContent = shown.length === rows.length ? rows.length : shown.length + '/' + rows.length;
    if (!rows.length) wrap.replaceChildren(h('div', { class: 'empty' }, 'None.'));
    else if (!shown.length) wrap.replaceChildren(h('div', { class: 'empty' }, 'Nothing matches the filter.'));
    else wrap.replaceChildren(renderTable(res, shown, false));
  };
  let last = null;
  // Redrawn only when something changed: a button must not go away under the pointer.
  const set = (r) => { const json = JSON.stringify(r); if (json !== last) { last = json; rows = r; draw(); } };
  return { sec, draw, set, error: (msg) => { last = null; wrap.replaceChildren(h('div', { class: 'error' }, msg)); } };
}

async function renderObject(kind, ns, name) {
  const res = state.resources[kind];
  const title = singular(kind) + ' · ' + (ns ? ns + '/' : '') + name;
  $('#title').textContent = title;
  document.title = title + ' · devk dashboard';
  const actions = h('span', { class: 'actions' });
  const related = h('div', { class: 'stack' });
  const events = sectionCard('events', 'Events', { dataset: { section: 'events' } });
  const yamlCard = h('section', { class: 'card', dataset: { section: 'yaml' } });
  $('#view').append(
    h('div', { class: 'toolbar bare' }, h('a', { href: 'javascript:history.back()', onclick: (e) => { e.preventDefault(); history.back(); } }, '← Back'),
      h('span', { class: 'spacer' }), actions),
    related, events.sec, yamlCard);
  const sections = {};
  let drawnActions = false;
  const refresh = async () => {
    try {
      const rel = await getJSON('api/related?' + q({ kind, namespace: ns, name }));
      if (!drawnActions && rel.self && res && res.actions) {
        drawnActions = true;
        actions.replaceChildren(...res.actions.map((a) => ACTIONS[a](rel.self)));
      }
      for (const sec of rel.sections) {
        if (!sections[sec.kind]) {
          sections[sec.kind] = sectionCard(sec.kind, sec.title, { dataset: { section: sec.kind } });
          related.append(sections[sec.kind].sec);
        }
        sections[sec.kind].set(sec.rows);
      }
      events.set(rel.events);
    } catch (e) {
      events.error(e.message);
    }
  };
  state.redraw = () => { events.draw(); Object.values(sections).forEach((s) => s.draw()); };
  refresh();
  every(5000, refresh);
  yamlEditor(yamlCard, kind, ns, name);
}

// applyForm is the buttons, error and outcome of a YAML form: Dry run asks the API server
// only; Apply dry-runs every object, then applies them all (server-side apply).
function applyForm(prefix, textarea, namespace, onApplied) {
  const error = h('div', { class: 'error', id: prefix + '-error', hidden: true });
  const result = h('ul', { class: 'applied', id: prefix + '-result' });
  const run = async (dryRun, btn) => {
    error.hidden = true;
    result.replaceChildren();
    btn.disabled = true;
    try {
      const out = await post('api/apply', { yaml: textarea.value, namespace: namespace(), dryRun });
      result.replaceChildren(...out.applied.map((a) => h('li', {},
        state.resources[a.kind] && !dryRun ? h('a', { href: objectLink(a) }, a.object) : a.object, ' ', a.action)));
      if (!dryRun) onApplied(out.applied);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      btn.disabled = false;
    }
  };
  const dry = h('button', { type: 'button', 'data-action': 'dry-run', onclick: () => run(true, dry) }, 'Dry run');
  const apply = h('button', { type: 'button', class: 'primary', 'data-action': 'apply', onclick: () => run(false, apply) }, 'Apply');
  return { buttons: [dry, apply], error, result };
}

function yamlEditor(card, kind, ns, name) {
  const pre = h('pre', { class: 'yaml', id: 'yaml' }, 'Loading…');
  const load = async () => {
    try { pre.textContent = await (await api('api/yaml?' + q({ kind, namespace: ns, name }))).text(); } catch (e) { pre.textContent = e.message; }
  };
  const show = () => {
    card.replaceChildren(h('div', { class: 'toolbar' }, h('strong', {}, 'YAML'), h('span', { class: 'spacer' }),
      // A Secret's YAML hides its values: applied back, it would overwrite them.
      kind === 'secrets' ? null : h('button', { 'data-action': 'edit-yaml', onclick: edit }, 'Edit'),
      h('button', { onclick: () => navigator.clipboard.writeText(pre.textContent).then(() => toast('Copied')) }, 'Copy')), pre);
  };
  const edit = async () => {
    await load(); // what is there now, not what was there when the page opened
    const ta = h('textarea', { class: 'yaml-edit', id: 'yaml-edit', spellcheck: 'false' });
    ta.value = pre.textContent;
    const form = applyForm('apply', ta, () => ns, () => { toast('Applied ' + name); load().then(show); });
    card.replaceChildren(h('div', { class: 'toolbar' }, h('strong', {}, 'Edit YAML'),
      h('span', { class: 'note' }, 'Server-side apply: a dry run on the API server first, then the change.'),
      h('span', { class: 'spacer' }), h('button', { 'data-action': 'cancel-edit', onclick: () => { load().then(show); } }, 'Cancel'), form.buttons),
    form.error, ta, form.result);
    ta.focus();
  };
  show();
  load();
}

function renderCreate() {
  $('#title').textContent = 'Create';
  document.title = 'Create · devk dashboard';
  const ta = h('textarea', { class: 'yaml-edit', id: 'create-yaml', spellcheck: 'false',
    placeholder: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: example\ndata:\n  key: value\n---\n(more objects, one document each)' });
  const ns = () => state.namespace || 'default';
  const form = applyForm('create', ta, ns, (applied) => toast('Applied ' + applied.map((a) => a.object).join(', ')));
  $('#view').append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' }, h('strong', {}, 'Paste YAML'),
      h('span', { class: 'note' }, 'Objects that name no namespace go to ' + ns() + '.'), h('span', { class: 'spacer' }), form.buttons),
    form.error, ta, form.result));
  ta.focus();
}

// ---- shell ------------------------------------------------------------------------

// wsURL is a WebSocket URL relative to the page, as every other URL of the page.
function wsURL(rel) {
  const u = new URL(rel, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

async function renderShell(ns, pod, container) {
  $('#title').textContent = 'Shell · ' + ns + '/' + pod;
  document.title = 'Shell · ' + pod + ' · devk dashboard';
  const select = h('select', { id: 'shell-container' });
  const status = h('span', { class: 'note', id: 'shell-status' }, 'loading…');
  const screen = h('div', { class: 'terminal', id: 'terminal' });
  const reconnect = h('button', { 'data-action': 'reconnect' }, 'Reconnect');
  $('#view').append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' }, h('a', { href: `#/object/pods/${enc(ns)}/${enc(pod)}` }, '← Pod'),
      h('label', {}, 'Container ', select), reconnect, h('span', { class: 'spacer' }), status),
    screen));
  try {
    const list = await getJSON('api/list?' + q({ kind: 'pods', namespace: ns }));
    const row = list.rows.find((r) => r.name === pod);
    if (!row) throw new Error(`pod ${ns}/${pod} not found`);
    for (const c of row.containers || []) select.append(h('option', { value: c }, c));
    if (container) select.value = container;
  } catch (e) {
    status.textContent = e.message;
    return;
  }
  loadStyle('vendor/xterm.css');
  try {
    await loadScript('vendor/xterm.js');
    await loadScript('vendor/addon-fit.js');
  } catch (e) {
    screen.replaceChildren(h('div', { class: 'error' }, 'The terminal widget (xterm.js) is not in this build of the dashboard: ' + e.message));
    status.textContent = '';
    return;
  }
  const term = new window.Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace' });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  const encoder = new TextEncoder();
  let ws = null;
  const sendSize = () => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
  };
  const connect = () => {
    if (ws) ws.close();
    term.reset();
    status.textContent = 'connecting…';
    const sock = new WebSocket(wsURL('api/exec?' + q({ namespace: ns, pod, container: select.value })));
    ws = sock;
    sock.binaryType = 'arraybuffer';
    sock.onopen = () => { status.textContent = 'connected to ' + select.value; sendSize(); term.focus(); };
    sock.onmessage = (e) => {
      if (typeof e.data !== 'string') { term.write(new Uint8Array(e.data)); return; }
      const c = JSON.parse(e.data);
      if (c.type === 'exit') {
        status.textContent = c.error ? 'ended: ' + c.error : 'the shell exited';
        term.write('\r\n\x1b[2m[' + (c.error ? 'ended: ' + c.error : 'the shell exited') + ']\x1b[0m\r\n');
      }
    };
    sock.onclose = () => { if (ws === sock && status.textContent.startsWith('connect')) status.textContent = 'disconnected'; };
  };
  term.onData((d) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(d)); });
  term.onResize(sendSize);
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(screen);
  reconnect.addEventListener('click', connect);
  select.addEventListener('change', connect);
  state.cleanup.push(() => { observer.disconnect(); if (ws) ws.close(); term.dispose(); });
  connect();
}

// ---- port forwards ----------------------------------------------------------------

function renderForwards() {
  $('#title').textContent = 'Port forwards';
  document.title = 'Port forwards · devk dashboard';
  const body = h('div', {}, h('div', { class: 'empty' }, 'Loading…'));
  $('#view').append(h('section', { class: 'card' },
    h('h2', {}, 'Port forwards on this machine'),
    h('div', { class: 'body note' }, 'Each listens on 127.0.0.1 while devk dashboard runs, with your kubeconfig\'s credentials. Start one with Forward on a pod or Service.'),
    body));
  let last = null;
  const refresh = async () => {
    try {
      const list = await getJSON('api/forwards');
      // Redrawn only when something changed: a button must not go away under the pointer.
      const json = JSON.stringify(list);
      if (json === last) return;
      last = json;
      if (!list.length) { body.replaceChildren(h('div', { class: 'empty' }, 'No port forwards.')); return; }
      body.replaceChildren(h('table', {},
        h('thead', {}, h('tr', {}, ['URL', 'Target', 'Pod', 'Started', 'Status', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, list.map((f) => h('tr', { dataset: { id: f.id, kind: f.kind, namespace: f.namespace, name: f.name } },
          h('td', { class: 'name' }, f.url ? h('a', { href: f.url, target: '_blank', rel: 'noopener', class: 'forward-url mono' }, f.url) : ''),
          h('td', {}, `${singular(f.kind).toLowerCase()}/${f.namespace}/${f.name}:${f.port}`),
          h('td', {}, `${f.pod}:${f.podPort}`),
          h('td', { class: 'age', title: f.started }, age(f.started)),
          h('td', {}, f.active ? h('span', { class: 'pill ok' }, 'active') : h('span', { class: 'pill bad', title: f.error }, 'stopped: ' + (f.error || ''))),
          h('td', { class: 'actions' }, h('button', { 'data-action': 'stop-forward', onclick: async () => {
            try { await post('api/forwards/stop', { id: f.id }); refresh(); } catch (e) { toast(e.message, true); }
          } }, f.active ? 'Stop' : 'Remove')))))));
    } catch (e) {
      last = null;
      body.replaceChildren(h('div', { class: 'error' }, e.message));
    }
  };
  refresh();
  every(3000, refresh);
}

// ---- a workload's logs: every pod at once -------------------------------------------

function renderWorkloadLogs(kind, ns, name) {
  const root = $('#view');
  $('#title').textContent = 'Logs · ' + singular(kind).toLowerCase() + ' ' + ns + '/' + name;
  const lines = h('div', { id: 'log-lines' });
  const out = h('pre', { class: 'log', id: 'log-output' }, lines);
  const follow = h('input', { type: 'checkbox', checked: true, id: 'log-follow' });
  const wrap = h('input', { type: 'checkbox', id: 'log-wrap' });
  const pods = h('span', { class: 'log-pods', id: 'log-pods' });
  const status = h('span', { class: 'note', id: 'log-status' }, 'connecting…');
  root.append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' },
      h('a', { href: `#/object/${kind}/${enc(ns)}/${enc(name)}` }, '← ' + singular(kind)),
      h('label', {}, follow, 'Follow'), h('label', {}, wrap, 'Wrap lines'),
      h('button', { onclick: () => lines.replaceChildren() }, 'Clear'), pods,
      h('span', { class: 'spacer' }), status),
    out));
  wrap.addEventListener('change', () => out.classList.toggle('wrap', wrap.checked));
  const colours = {};
  const colour = (pod) => (colours[pod] ??= 'c' + (Object.keys(colours).length % 6));
  let es = null;
  const sys = (text) => lines.append(h('div', { class: 'line sys' }, text));
  const start = () => {
    if (es) es.close();
    lines.replaceChildren();
    pods.replaceChildren();
    status.textContent = 'connecting…';
    es = new EventSource('api/workloadlogs?' + q({ kind, namespace: ns, name, follow: follow.checked ? 1 : 0 }));
    es.onopen = () => { status.textContent = follow.checked ? 'streaming' : 'loaded'; setLive(true); };
    es.addEventListener('start', (e) => {
      const l = JSON.parse(e.data);
      pods.append(h('span', { class: 'tag ' + colour(l.pod), dataset: { pod: l.pod } }, l.pod + (l.container ? '/' + l.container : '')));
    });
    es.addEventListener('line', (e) => {
      const l = JSON.parse(e.data);
      const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 30;
      lines.append(h('div', { class: 'line', dataset: { pod: l.pod } }, h('span', { class: 'prefix ' + colour(l.pod) }, l.pod + ' '), l.text));
      while (lines.childElementCount > MAX_LOG_LINES) lines.firstElementChild.remove();
      if (stick) out.scrollTop = out.scrollHeight;
    });
    es.addEventListener('stop', (e) => {
      const l = JSON.parse(e.data);
      if (l.error || follow.checked) sys(`— ${l.pod}/${l.container} ended${l.error ? ': ' + l.error : ''} —`);
    });
    es.addEventListener('end', () => { es.close(); status.textContent = 'ended'; });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) return;
      es.close();
      status.textContent = 'disconnected';
      sys('— disconnected; toggle Follow to reconnect —');
    };
  };
  state.cleanup.push(() => es && es.close());
  follow.addEventListener('change', start);
  start();
}

// ---- secrets --------------------------------------------------------------------

async function renderSecret(ns, name) {
  $('#title').textContent = 'Secret · ' + ns + '/' + name;
  const body = h('div', {}, h('div', { class: 'empty' }, 'Loading…'));
  $('#view').append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' }, h('a', { href: '#/secrets' }, '← Secrets'), h('span', { class: 'spacer' }),
      h('a', { href: `#/object/secrets/${enc(ns)}/${enc(name)}` }, 'Events and YAML (values hidden)')),
    body));
  const params = { namespace: ns, name };
  try {
    const sec = await getJSON('api/secret?' + q(params));
    const rows = sec.keys.map((k) => {
      const value = h('span', { class: 'secret-value mono' }, '•••••••• (' + k.size + ' bytes)');
      const btn = h('button', { 'data-action': 'reveal-value' }, 'Reveal');
      btn.addEventListener('click', async () => {
        if (value.classList.contains('shown')) {
          value.classList.remove('shown');
          value.textContent = '•••••••• (' + k.size + ' bytes)';
          btn.textContent = 'Reveal';
          return;
        }
        try {
          const got = await getJSON('api/secret?' + q({ ...params, key: k.name }));
          const key = got.keys.find((x) => x.name === k.name);
          value.textContent = key.value + (key.base64 ? '  (base64: not text)' : '');
          value.classList.add('shown');
          btn.textContent = 'Hide';
        } catch (e) { toast(e.message, true); }
      });
      return h('tr', { dataset: { key: k.name } }, h('td', { class: 'name' }, k.name), h('td', {}, value), h('td', { class: 'actions' }, btn));
    });
    body.replaceChildren(h('div', { class: 'body note' }, 'Type ', h('code', {}, sec.type), '. Values stay hidden until you reveal them.'),
      rows.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Value'), h('th', {}))), h('tbody', {}, rows))
        : h('div', { class: 'empty' }, 'No keys.'));
  } catch (e) {
    body.replaceChildren(h('div', { class: 'error' }, e.message));
  }
}

// ---- routing --------------------------------------------------------------------

function route() {
  for (const fn of state.cleanup.splice(0)) fn();
  state.redraw = null;
  $('#view').replaceChildren();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const name = parts[0] || 'overview';
  // Pages of one object are under the view of their kind.
  const navView = { logs: 'workloads', wlogs: 'workloads', shell: 'workloads', object: null, yaml: null, secret: 'secrets' }[name] ?? name;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === navView));
  const view = VIEWS[name];
  $('#namespace').disabled = !(view && view.kinds && view.kinds.some((k) => state.resources[k] && state.resources[k].namespaced)) && name !== 'create';
  // The filter box narrows every list of a page; a new page starts unfiltered.
  const filter = $('#filter');
  filter.disabled = !((view && view.kinds) || name === 'object' || name === 'yaml');
  if (state.filterPage !== location.hash) { filter.value = ''; state.filter = ''; state.filterPage = location.hash; }
  const ns = (v) => (v === '-' ? '' : v);
  if (name === 'logs') return renderLogs(parts[1], parts[2], parts[3]);
  if (name === 'wlogs') return renderWorkloadLogs(parts[1], parts[2], parts[3]);
  if (name === 'object' || name === 'yaml') return renderObject(parts[1], ns(parts[2]), parts[3]);
  if (name === 'secret') return renderSecret(parts[1], parts[2]);
  if (name === 'shell') return renderShell(parts[1], parts[2], parts[3]);
  if (name === 'forwards') return renderForwards();
  if (name === 'create') return renderCreate();
  if (!view) { location.hash = '#/overview'; return; }
  $('#title').textContent = view.title;
  document.title = view.title + ' · devk dashboard';
  if (name === 'overview') return renderOverview();
  return renderLists(view);
}

async function loadNamespaces() {
  const sel = $('#namespace');
  try {
    const list = await getJSON('api/list?kind=namespaces');
    const names = list.rows.map((r) => r.name);
    if (state.namespace && !names.includes(state.namespace)) names.push(state.namespace);
    sel.replaceChildren(h('option', { value: '' }, 'All namespaces'), names.map((n) => h('option', { value: n }, n)));
    sel.value = state.namespace;
  } catch (e) { /* keep what is there */ }
}

async function boot() {
  try {
    for (const r of await getJSON('api/resources')) state.resources[r.name] = r;
    const nodes = await getJSON('api/list?kind=nodes');
    $('#cluster').textContent = nodes.rows.map((n) => n.name).join(', ');
  } catch (e) {
    $('#view').replaceChildren(h('div', { class: 'card error' }, 'The dashboard API does not answer: ' + e.message));
    return;
  }
  const sel = $('#namespace');
  sel.addEventListener('focus', loadNamespaces);
  sel.addEventListener('change', () => {
    state.namespace = sel.value;
    localStorage.setItem('devk-namespace', state.namespace);
    route();
  });
  await loadNamespaces();
  const filter = $('#filter');
  filter.addEventListener('input', () => {
    state.filter = filter.value;
    if (state.redraw) state.redraw();
  });
  window.addEventListener('hashchange', route);
  route();
}

boot();
