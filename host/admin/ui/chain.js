// Chain: every chain's filters in order with version, sha256, signer, config, limits and
// live per-filter figures; the routes; the revision history with diffs and rollback. With a
// write token the entries are editable (config, version, on_error, limits, order, add,
// remove) and go to the server as one PUT /chain with If-Match: the server checks everything,
// and each problem it names is shown at the field it is about.

import { ApiError, call, get } from './api.js';
import { diffLines } from './diff.js';
import { formatMs, formatTime, h, replace } from './dom.js';
import { filterPhases, sumBy } from './prom.js';
import { DEFAULT_CHAIN, placeProblems } from './spec-errors.js';

const PHASES = ['request_headers', 'request_body', 'response_headers', 'response_body', 'log'];
const LIMITS = ['fuel', 'max_memory_mb'];

/** Entry as edited: config kept as the text in its box until it is sent. */
function draftEntry(entry) {
  return { ...entry, configText: typeof entry.config === 'string' ? entry.config : JSON.stringify(entry.config, null, 2) };
}

/** The text of a config box as the spec wants it: a mapping or list when it is JSON one, else the text. */
function configValue(text) {
  try {
    const value = JSON.parse(text);
    if (value !== null && typeof value === 'object') return value;
  } catch {
    // plain text
  }
  return text;
}

/** A number box's value: a number when it is one; otherwise the text, for the server to refuse by name. */
function numberValue(text) {
  return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

function specFromDraft(draft) {
  const entry = ({ configText, ...rest }) => ({ ...rest, config: configValue(configText) });
  const spec = { filters: draft.chains.get(DEFAULT_CHAIN).map(entry) };
  const named = [...draft.chains].filter(([name]) => name !== DEFAULT_CHAIN);
  if (named.length > 0) spec.chains = Object.fromEntries(named.map(([name, entries]) => [name, entries.map(entry)]));
  if (draft.routes.length > 0) spec.routes = draft.routes;
  return spec;
}

export function createChain({ live, canWrite, toast }) {
  const toolbar = h('div', { class: 'toolbar' });
  const messages = h('div', { class: 'messages' });
  const chainsBox = h('div', { class: 'chains' });
  const routesBox = h('div', { class: 'card' });
  const historyBox = h('div', { class: 'card history' });
  const specText = canWrite ? h('textarea', { name: 'spec', spellcheck: 'false' }) : h('pre', { class: 'config' });
  const specProblems = h('div', { role: 'alert' });
  const specBox = h(
    'details',
    { class: 'card spec-json' },
    h('summary', {}, canWrite ? 'The whole spec as JSON (routes, chains, everything)' : 'The whole spec as JSON'),
    h('p', { class: 'muted small' }, 'What GET /chain shows and PUT /chain takes (without revision). Applied as one change with If-Match, like the form above.'),
    specText,
    specProblems,
    canWrite && h('button', { type: 'button', class: 'primary', 'data-testid': 'apply-json', onclick: () => applyJson() }, 'Apply this spec'),
  );
  const element = h('section', { class: 'view chain' }, toolbar, messages, chainsBox, routesBox, specBox, historyBox);

  let serving; // GET /chain as it came
  let draft; // {chains: Map<name, entries>, routes}
  let registry = new Map(); // filter name -> versions
  let problems = [];
  /** Per filter, the element its live figures go in. */
  let figureBoxes = [];

  const dirty = () => draft !== undefined && JSON.stringify(specFromDraft(draft)) !== JSON.stringify(specFromDraft(toDraft(serving)));

  function toDraft(chain) {
    const chains = new Map([[DEFAULT_CHAIN, chain.filters.map(draftEntry)]]);
    for (const [name, entries] of Object.entries(chain.chains ?? {})) chains.set(name, entries.map(draftEntry));
    return { chains, routes: chain.routes ?? [] };
  }

  async function load() {
    const [chain, filters, history] = await Promise.all([get('/chain'), get('/filters'), get('/chain/history')]);
    serving = chain;
    draft = toDraft(chain);
    registry = new Map(filters.filters.map((filter) => [filter.name, filter.versions]));
    problems = [];
    replace(messages);
    const { revision: _revision, ...spec } = chain;
    if (canWrite) specText.value = JSON.stringify(spec, null, 2);
    else specText.textContent = JSON.stringify(spec, null, 2);
    replace(specProblems);
    render();
    renderHistory(history.history);
  }

  // ---- rendering ---------------------------------------------------------------------------

  function render() {
    renderToolbar();
    figureBoxes = [];
    replace(chainsBox, [...draft.chains].map(([name, entries]) => renderChain(name, entries)));
    renderRoutes();
    renderFigures();
  }

  function renderToolbar() {
    replace(
      toolbar,
      h('span', { class: 'revision-label' }, 'Revision ', h('strong', { 'data-testid': 'chain-revision' }, String(serving.revision))),
      canWrite && [
        h('button', { type: 'button', class: 'primary', 'data-testid': 'apply', disabled: !dirty(), onclick: () => apply(serving.revision) }, 'Apply changes'),
        h('button', { type: 'button', disabled: !dirty(), onclick: () => load() }, 'Discard edits'),
        h('button', { type: 'button', 'data-testid': 'undo', onclick: () => rollback(undefined) }, 'Roll back last change'),
      ],
      h('button', { type: 'button', onclick: () => load().catch(showError) }, 'Reload'),
    );
  }

  function changed() {
    renderToolbar();
  }

  function renderChain(name, entries) {
    const title = name === DEFAULT_CHAIN ? 'Default chain' : `Chain ${name}`;
    const note = name === DEFAULT_CHAIN ? 'requests no route matches (the spec’s filters)' : `requests routed to ${name}`;
    const list = h('ol', { class: 'entries' }, entries.map((entry, index) => renderEntry(name, entries, entry, index)));
    if (entries.length === 0) list.append(h('li', { class: 'muted' }, 'no filters'));
    return h('div', { class: 'card', 'data-chain': name }, h('h2', {}, title, ' ', h('span', { class: 'muted small' }, note)), list, canWrite && renderAdd(name, entries));
  }

  function problemsAt(chain, index, field) {
    return problems.filter((problem) => problem.chain === chain && problem.index === index && problem.field === field);
  }

  function fieldError(chain, index, field) {
    return problemsAt(chain, index, field).map((problem) => h('p', { class: 'field-error', 'data-field': field, role: 'alert' }, problem.message));
  }

  function renderEntry(chain, entries, entry, index) {
    const versions = registry.get(entry.name) ?? [];
    const record = versions.find((version) => version.version === entry.version);
    const move = (delta) => {
      const target = index + delta;
      if (target < 0 || target >= entries.length) return;
      [entries[index], entries[target]] = [entries[target], entries[index]];
      problems = [];
      render();
    };
    const remove = () => {
      entries.splice(index, 1);
      problems = [];
      render();
    };
    const figures = h('div', { class: 'figures' });
    figureBoxes.push({ name: entry.name, box: figures });

    const field = (label, name, control, extra) => h('div', { class: `field field-${name}` }, h('label', {}, h('span', {}, label), control), extra, fieldError(chain, index, name));
    const input = (key, props = {}) =>
      h('input', {
        ...props,
        name: key,
        value: entry[key] === undefined ? '' : String(entry[key]),
        oninput: (event) => {
          const text = event.target.value;
          if (text === '') delete entry[key];
          else entry[key] = numberValue(text);
          changed();
        },
      });

    const versionControl = canWrite
      ? h(
          'select',
          { name: 'version', onchange: (event) => ((entry.version = Number(event.target.value)), render()) },
          [...new Set([...versions.map((v) => v.version), entry.version])].sort((a, b) => b - a).map((version) => h('option', { value: String(version), selected: version === entry.version }, `v${version}`)),
        )
      : h('span', {}, `v${entry.version}`);
    const onErrorControl = canWrite
      ? h('select', { name: 'on_error', onchange: (event) => ((entry.on_error = event.target.value), changed()) }, ['fail_closed', 'fail_open'].map((mode) => h('option', { value: mode, selected: mode === entry.on_error }, mode)))
      : h('span', {}, entry.on_error);
    const configControl = canWrite
      ? h('textarea', { name: 'config', rows: Math.min(12, Math.max(2, entry.configText.split('\n').length)), spellcheck: 'false', value: entry.configText, oninput: (event) => ((entry.configText = event.target.value), changed()) })
      : h('pre', { class: 'config' }, entry.configText === '' ? '(empty)' : entry.configText);

    return h(
      'li',
      { class: 'entry', 'data-filter': entry.name, 'data-index': String(index) },
      h(
        'div',
        { class: 'entry-head' },
        h('span', { class: 'position' }, String(index + 1)),
        h('strong', { class: 'filter-name' }, entry.name),
        record === undefined
          ? h('span', { class: 'warn' }, `version ${entry.version} is not in the registry`)
          : [
              h('code', { class: 'sha', title: `sha256 ${record.sha256}` }, record.sha256.slice(0, 12)),
              h('span', { class: 'muted' }, record.signed_by === undefined ? 'unsigned' : `signed by ${record.signed_by}`),
              h('span', { class: 'muted' }, `uploaded by ${record.uploaded_by}`),
            ],
        h('span', { class: 'spacer' }),
        canWrite && [
          h('button', { type: 'button', title: 'Move up', disabled: index === 0, onclick: () => move(-1) }, '↑'),
          h('button', { type: 'button', title: 'Move down', disabled: index === entries.length - 1, onclick: () => move(1) }, '↓'),
          h('button', { type: 'button', title: 'Remove from this chain', onclick: remove }, 'Remove'),
        ],
      ),
      fieldError(chain, index, undefined),
      h(
        'div',
        { class: 'entry-body' },
        h(
          'div',
          { class: 'fields' },
          field('version', 'version', versionControl),
          field('on_error', 'on_error', onErrorControl),
          LIMITS.map((key) => field(key, key, canWrite ? input(key, { inputmode: 'numeric', placeholder: 'default' }) : h('span', {}, entry[key] === undefined ? 'default' : String(entry[key])))),
          entry.trap_cooldown !== undefined && field('trap_cooldown', 'trap_cooldown', h('code', {}, JSON.stringify(entry.trap_cooldown))),
          entry.root_id !== undefined && field('root_id', 'root_id', h('code', {}, entry.root_id)),
          entry.vm_config !== undefined && field('vm_config', 'vm_config', h('code', {}, JSON.stringify(entry.vm_config))),
        ),
        field('config', 'config', configControl),
        figures,
      ),
    );
  }

  function renderAdd(chain, entries) {
    const names = [...registry.keys()].sort();
    const select = h('select', { name: 'add-filter' }, names.map((name) => h('option', { value: name }, name)));
    const add = () => {
      const name = select.value;
      const latest = Math.max(...(registry.get(name) ?? []).map((v) => v.version));
      entries.push(draftEntry({ name, version: latest, config: '', on_error: 'fail_closed' }));
      render();
    };
    return h('div', { class: 'add' }, names.length === 0 ? h('span', { class: 'muted' }, 'upload a filter first (Filters)') : [select, h('button', { type: 'button', onclick: add }, 'Add to chain')]);
  }

  function renderRoutes() {
    const routes = draft.routes;
    replace(
      routesBox,
      h('h2', {}, 'Routes ', h('span', { class: 'muted small' }, 'the first match picks the chain')),
      routes.length === 0
        ? h('p', { class: 'muted' }, 'no routes: every request takes the default chain')
        : h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'host'), h('th', {}, 'path prefix'), h('th', {}, 'chain'))), h('tbody', {}, routes.map((route) => h('tr', {}, h('td', {}, route.host ?? '*'), h('td', {}, route.path_prefix), h('td', {}, route.chain))))),
      problems.filter((problem) => problem.chain === undefined && problem.message.startsWith('routes')).map((problem) => h('p', { class: 'field-error' }, problem.message)),
    );
  }

  /** Live figures per filter (phase latency since start, traps, cool-downs): updated in place, so edits are not disturbed. */
  function renderFigures() {
    if (live.samples.length === 0) return;
    const phases = filterPhases(live.samples);
    const traps = sumBy(live.samples, 'weft_filter_traps_total', 'filter');
    const cooldowns = sumBy(live.samples, 'weft_filter_cooldowns_total', 'filter');
    for (const { name, box } of figureBoxes) {
      const byPhase = phases[name] ?? {};
      const rows = PHASES.filter((phase) => byPhase[phase] !== undefined).map((phase) =>
        h('tr', {}, h('td', {}, phase), h('td', { class: 'num' }, String(byPhase[phase].calls)), h('td', { class: 'num' }, formatMs(byPhase[phase].mean_ms)), h('td', { class: 'num' }, byPhase[phase].p99_ms === null ? '–' : `≤ ${formatMs(byPhase[phase].p99_ms)}`)),
      );
      replace(
        box,
        h('div', { class: 'counters' }, h('span', { class: traps[name] ? 'warn' : 'muted' }, `traps ${traps[name] ?? 0}`), h('span', { class: cooldowns[name] ? 'warn' : 'muted' }, `cool-downs ${cooldowns[name] ?? 0}`)),
        rows.length === 0
          ? h('p', { class: 'muted small' }, 'no calls yet')
          : h('table', { class: 'grid small' }, h('thead', {}, h('tr', {}, h('th', {}, 'phase'), h('th', {}, 'calls'), h('th', {}, 'mean'), h('th', {}, 'p99'))), h('tbody', {}, rows)),
      );
    }
  }

  function renderHistory(history) {
    replace(
      historyBox,
      h('h2', {}, 'History ', h('span', { class: 'muted small' }, 'newest first')),
      h('ol', { class: 'revisions' }, history.map((entry) => renderRevision(entry))),
    );
  }

  function renderRevision(entry) {
    const diffBox = h('div', { class: 'diff', hidden: true });
    const showDiff = async () => {
      if (!diffBox.hidden) return void (diffBox.hidden = true);
      const [after, before] = await Promise.all([get(`/chain/history/${entry.revision}`), entry.replaced > 0 ? get(`/chain/history/${entry.replaced}`).catch(() => undefined) : undefined]);
      const text = (record) => (record === undefined ? '' : JSON.stringify(record.spec, null, 2));
      replace(diffBox, h('pre', {}, diffLines(text(before), text(after)).map(({ op, line }) => h('span', { class: op === '+' ? 'added' : op === '-' ? 'removed' : '' }, `${op} ${line}\n`))));
      diffBox.hidden = false;
    };
    const current = entry.revision === serving.revision;
    return h(
      'li',
      { 'data-revision': String(entry.revision) },
      h(
        'div',
        { class: 'revision-head' },
        h('strong', {}, `#${entry.revision}`),
        h('span', { class: 'badge' }, entry.action === 'rollback' ? `rollback to #${entry.restored}` : entry.action),
        current && h('span', { class: 'badge serving' }, 'serving'),
        h('span', { class: 'muted' }, `${formatTime(entry.at)} by ${entry.by}`),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', onclick: () => showDiff().catch(showError) }, 'Diff'),
        canWrite && !current && h('button', { type: 'button', 'data-testid': `rollback-${entry.revision}`, onclick: () => rollback(entry.revision) }, 'Roll back to this'),
      ),
      h('ul', { class: 'changes' }, entry.changes.map((change) => h('li', {}, change))),
      diffBox,
    );
  }

  // ---- changes -----------------------------------------------------------------------------

  function showError(error) {
    replace(messages, h('div', { class: 'error box', role: 'alert' }, error.message));
  }

  /** 412: someone else changed the chain since it was loaded. */
  function showConflict(error, retry) {
    replace(
      messages,
      h(
        'div',
        { class: 'error box conflict', role: 'alert' },
        h('p', {}, h('strong', {}, 'The chain changed while you were editing. '), `You loaded revision ${serving.revision}; the server says: ${error.message}. `, 'Someone else (another admin, or another proxy sharing the store) applied a change, so yours was not applied: the server only takes a change made on top of the revision it serves (If-Match).'),
        h('p', {}, 'Your edits are still on this page.'),
        h('button', { type: 'button', onclick: () => load().catch(showError) }, 'Reload the chain (drops your edits)'),
        ' ',
        retry && h('button', { type: 'button', onclick: retry }, 'Apply my version over theirs'),
      ),
    );
  }

  async function apply(base) {
    let body;
    try {
      ({ body } = await call('PUT', '/chain', { json: specFromDraft(draft), ifMatch: base }));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 412) {
        const latest = await call('GET', '/chain').catch(showError);
        return showConflict(error, latest && (() => apply(latest.etag)));
      }
      problems = placeProblems(error.message);
      const general = problems.filter((problem) => problem.chain === undefined);
      render();
      replace(messages, h('div', { class: 'error box', role: 'alert' }, h('p', {}, `Not applied (${error.status}): the chain serving is unchanged.`), general.map((problem) => h('p', {}, problem.message)), general.length < problems.length && h('p', {}, 'Problems with a filter are shown at the field.')));
      return;
    }
    toast(`revision ${body.revision} serving${body.changes.length > 0 ? `: ${body.changes.join('; ')}` : ''}`);
    await load().catch(showError);
  }

  /** The JSON editor's spec: its problems are listed under it, as the server words them. */
  async function applyJson() {
    let spec;
    try {
      spec = JSON.parse(specText.value);
    } catch (error) {
      return replace(specProblems, h('p', { class: 'field-error' }, `not JSON: ${error.message}`));
    }
    let body;
    try {
      ({ body } = await call('PUT', '/chain', { json: spec, ifMatch: serving.revision }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) return showConflict(error, undefined);
      return replace(specProblems, h('p', { class: 'error' }, `Not applied (${error.status}): the chain serving is unchanged.`), error.message.split('\n').map((line) => h('p', { class: 'field-error' }, line)));
    }
    toast(`revision ${body.revision} serving${body.changes.length > 0 ? `: ${body.changes.join('; ')}` : ''}`);
    await load().catch(showError);
  }

  async function rollback(to) {
    try {
      const { body } = await call('POST', '/chain/rollback', { json: to === undefined ? {} : { revision: to }, ifMatch: serving.revision });
      toast(`rolled back to revision ${body.restored}: now revision ${body.revision}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) return showConflict(error, undefined);
      return showError(error);
    }
    await load().catch(showError);
  }

  let unsubscribe;
  return {
    element,
    async show() {
      // Coming back to the tab keeps unsaved edits.
      if (draft === undefined || !dirty()) await load();
      else render();
      unsubscribe = live.onUpdate(renderFigures);
    },
    hide() {
      unsubscribe?.();
    },
  };
}
