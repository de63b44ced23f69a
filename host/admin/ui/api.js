// The admin API, called from the page: same origin, the token as `Authorization: Bearer`,
// JSON in and out. A refusal becomes an ApiError with the API's own `{error}` text.

const TOKEN_KEY = 'weft-admin-token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The token lives in sessionStorage: it is gone when the tab is closed. */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Called with the ApiError of every 401, so the page can ask for a token again. */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * `call('PUT', '/chain', {json: spec, ifMatch: 12})` -> `{status, body, etag}`; non-2xx throws.
 * `body` is parsed JSON, or text for a text reply.
 */
export async function call(method, path, options = {}) {
  const headers = { ...options.headers };
  const stored = token.get();
  if (stored !== undefined) headers.authorization = `Bearer ${stored}`;
  if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, `the admin API cannot be reached (${error.message})`);
  }
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  let parsed = text;
  if (type.startsWith('application/json') && text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      // left as text
    }
  }
  if (!response.ok) {
    const message = typeof parsed === 'object' && parsed !== null && typeof parsed.error === 'string' ? parsed.error : `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, message);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  const etag = response.headers.get('etag');
  return { status: response.status, body: parsed, etag: etag === null ? undefined : Number(etag.replace(/^W\//, '').replaceAll('"', '')) };
}

export const get = (path) => call('GET', path).then((reply) => reply.body);
