// Filters: the registry (every filter, its versions, which chains use each) and uploading a
// module by drag and drop or a file picker (POST /filters/{name}, application/wasm).

import { call, get } from './api.js';
import { confirmButton, formatBytes, formatTime, h, replace } from './dom.js';

const NAME = /^[A-Za-z0-9_-]+$/;

/** `auth-v3.wasm` -> `auth-v3`: a file name as a filter name, when it is a valid one. */
function nameFromFile(fileName) {
  const base = fileName.replace(/\.wasm$/i, '').replace(/[^A-Za-z0-9_-]/g, '-');
  return NAME.test(base) ? base : '';
}

export function createFilters({ canWrite, toast }) {
  const list = h('div', { class: 'registry' });
  const result = h('div', { class: 'upload-result', role: 'status' });
  const nameInput = h('input', { name: 'filter-name', placeholder: 'filter name (from the file name)', pattern: '[A-Za-z0-9_-]+' });
  const rootInput = h('input', { name: 'root-id', placeholder: 'root_id (optional)' });
  const signatureInput = h('input', { name: 'signature', placeholder: 'X-Weft-Signature (optional, base64)' });
  const fileInput = h('input', { type: 'file', accept: '.wasm,application/wasm', name: 'module', onchange: () => fileInput.files[0] && upload(fileInput.files[0]) });
  const dropZone = h(
    'div',
    { class: 'drop-zone', 'data-testid': 'drop-zone', tabindex: '0' },
    h('p', {}, h('strong', {}, 'Drop a .wasm module here'), ' or ', h('label', { class: 'file-label' }, 'choose a file', fileInput)),
    h('p', { class: 'muted small' }, 'It is compiled, checked and started in a sandbox before it is accepted; the chain does not change until you add it there.'),
  );
  dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    dropZone.classList.add('over');
  });
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('over');
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) upload(file);
  });

  const element = h(
    'section',
    { class: 'view filters' },
    canWrite && h('div', { class: 'card' }, h('h2', {}, 'Upload a filter'), h('div', { class: 'upload-fields' }, nameInput, rootInput, signatureInput), dropZone, result),
    h('div', { class: 'card' }, h('h2', {}, 'Registry'), list),
  );

  async function upload(file) {
    const name = nameInput.value.trim() || nameFromFile(file.name);
    if (!NAME.test(name)) {
      replace(result, h('p', { class: 'error' }, `"${name}" is not a filter name: give one (letters, digits, "_" and "-")`));
      return;
    }
    replace(result, h('p', { class: 'muted' }, `uploading ${file.name} as ${name}…`));
    const headers = signatureInput.value.trim() === '' ? {} : { 'x-weft-signature': signatureInput.value.trim() };
    const query = rootInput.value.trim() === '' ? '' : `?root_id=${encodeURIComponent(rootInput.value.trim())}`;
    try {
      const bytes = await file.arrayBuffer();
      const { status, body } = await call('POST', `/filters/${encodeURIComponent(name)}${query}`, { body: bytes, contentType: 'application/wasm', headers });
      const what = status === 201 ? 'new version' : 'already in the registry as';
      replace(result, h('p', { class: 'ok' }, `${body.name}: ${what} ${body.version} (sha256 ${body.sha256.slice(0, 12)}…)`));
      toast(`${body.name} version ${body.version} in the registry`);
      fileInput.value = '';
    } catch (error) {
      return replace(result, h('p', { class: 'error', role: 'alert' }, `not uploaded (${error.status ?? 'error'}): ${error.message}`));
    }
    await refresh().catch((error) => toast(error.message, true));
  }

  async function refresh() {
    const { filters } = await get('/filters');
    if (filters.length === 0) return replace(list, h('p', { class: 'muted' }, 'no filters yet'));
    replace(
      list,
      filters.map((filter) =>
        h(
          'div',
          { class: 'filter', 'data-filter': filter.name },
          h('h3', {}, filter.name),
          h(
            'table',
            { class: 'grid' },
            h('thead', {}, h('tr', {}, ['version', 'sha256', 'size', 'ABI', 'uploaded', 'by', 'signed by', 'used by', ''].map((title) => h('th', {}, title)))),
            h(
              'tbody',
              {},
              [...filter.versions].reverse().map((version) =>
                h(
                  'tr',
                  { 'data-version': String(version.version) },
                  h('td', {}, `v${version.version}`),
                  h('td', {}, h('code', { title: version.sha256 }, version.sha256.slice(0, 12))),
                  h('td', { class: 'num' }, formatBytes(version.size)),
                  h('td', {}, version.abi_version),
                  h('td', {}, formatTime(version.uploaded_at)),
                  h('td', {}, version.uploaded_by),
                  h('td', {}, version.signed_by ?? '–'),
                  h('td', {}, version.used_by.length === 0 ? h('span', { class: 'muted' }, 'unused') : version.used_by.join(', ')),
                  h('td', {}, canWrite && version.used_by.length === 0 && confirmButton('Delete', 'Confirm delete', () => remove(filter.name, version.version))),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function remove(name, version) {
    try {
      await call('DELETE', `/filters/${encodeURIComponent(name)}/versions/${version}`);
      toast(`${name} version ${version} deleted`);
    } catch (error) {
      toast(`not deleted: ${error.message}`, true);
    }
    await refresh().catch((error) => toast(error.message, true));
  }

  return { element, show: refresh, hide() {} };
}
