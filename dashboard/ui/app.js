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
};

const VIEWS = {
  overview: { title: 'Overview' },
  namespaces: { title: 'Namespaces', kinds: ['namespaces'] },
  workloads: { title: 'Workloads', kinds: ['deployments', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'pods'] },
  services: { title: 'Services', kinds: ['services'] },
  ingresses: { title: 'Ingresses', kinds: ['ingresses'] },
  configmaps: { title: 'ConfigMaps', kinds: ['configmaps'] },
  secrets: { title: 'Secrets', kinds: ['secrets'] },
  storage: { title: 'Storage', kinds: ['persistentvolumeclaims', 'persistentvolumes'] },
  events: { title: 'Events', kinds: ['events'] },
};

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
    'data-action': 'logs', onclick: () => { location.hash = `#/logs/${enc(row.namespace)}/${enc(row.name)}`; },
  }, 'Logs'),
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
  return `#/yaml/${row.kind}/${enc(row.namespace || '-')}/${enc(row.name)}`;
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
    const rows = [...stores[kind].values()].sort(compareRows(kind));
    s.count.textContent = rows.length;
    // An empty kind is only its title, so a view of many kinds stays short.
    s.sec.classList.toggle('none', view.kinds.length > 1 && !rows.length && !s.error);
    if (s.error) {
      s.wrap.replaceChildren(h('div', { class: 'error' }, s.error));
    } else if (!rows.length) {
      s.wrap.replaceChildren(h('div', { class: 'empty' }, 'No ' + s.res.title.toLowerCase() + (s.res.namespaced && state.namespace ? ' in ' + state.namespace : '') + '.'));
    } else {
      s.wrap.replaceChildren(renderTable(s.res, rows, !state.namespace));
    }
  };
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

// ---- YAML and secrets -----------------------------------------------------------

async function renderYAML(kind, ns, name) {
  const res = state.resources[kind];
  $('#title').textContent = (res ? res.title.replace(/s$/, '') : kind) + ' · ' + (ns && ns !== '-' ? ns + '/' : '') + name;
  const pre = h('pre', { class: 'yaml', id: 'yaml' }, 'Loading…');
  $('#view').append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' }, h('a', { href: 'javascript:history.back()', onclick: (e) => { e.preventDefault(); history.back(); } }, '← Back'),
      h('span', { class: 'spacer' }),
      h('button', { onclick: () => navigator.clipboard.writeText(pre.textContent).then(() => toast('Copied')) }, 'Copy')),
    pre));
  try {
    pre.textContent = await (await api('api/yaml?' + q({ kind, namespace: ns === '-' ? '' : ns, name }))).text();
  } catch (e) {
    pre.textContent = e.message;
  }
}

async function renderSecret(ns, name) {
  $('#title').textContent = 'Secret · ' + ns + '/' + name;
  const body = h('div', {}, h('div', { class: 'empty' }, 'Loading…'));
  $('#view').append(h('section', { class: 'card' },
    h('div', { class: 'toolbar' }, h('a', { href: '#/secrets' }, '← Secrets'), h('span', { class: 'spacer' }),
      h('a', { href: `#/yaml/secrets/${enc(ns)}/${enc(name)}` }, 'YAML (values hidden)')),
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
  $('#view').replaceChildren();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const name = parts[0] || 'overview';
  const navView = { logs: 'workloads', yaml: null, secret: 'secrets' }[name] ?? name;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === navView));
  const view = VIEWS[name];
  $('#namespace').disabled = !(view && view.kinds && view.kinds.some((k) => state.resources[k] && state.resources[k].namespaced));
  if (name === 'logs') return renderLogs(parts[1], parts[2], parts[3]);
  if (name === 'yaml') return renderYAML(parts[1], parts[2], parts[3]);
  if (name === 'secret') return renderSecret(parts[1], parts[2]);
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
  window.addEventListener('hashchange', route);
  route();
}

boot();
