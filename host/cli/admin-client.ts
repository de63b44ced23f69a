// The admin API as the CLI calls it: JSON in, JSON out, every failure an Error whose message
// is what the user reads (the API's own `error` text when it gave one).

export interface AdminTarget {
  /** Base URL, e.g. http://127.0.0.1:9901 */
  url: string;
  token: string | undefined;
}

export class AdminCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminCallError';
  }
}

export interface AdminCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
}

/** Sends one request; resolves to the parsed JSON body of a 2xx answer. */
export async function callAdmin<T>(target: AdminTarget, call: AdminCall): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { ...call.headers };
  if (target.token !== undefined && target.token !== '') headers.authorization = `Bearer ${target.token}`;
  const url = new URL(call.path, target.url.endsWith('/') ? target.url : `${target.url}/`);
  let response: Response;
  try {
    response = await fetch(url, { method: call.method, headers, ...(call.body === undefined ? {} : { body: call.body }) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new AdminCallError(`cannot reach the admin API at ${target.url} (${cause?.code ?? cause?.message ?? (error as Error).message})`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  if (!response.ok) {
    const reason = typeof body === 'object' && body !== null && 'error' in body ? String((body as { error: unknown }).error) : text || response.statusText;
    const hint = response.status === 401 && (target.token === undefined || target.token === '') ? ' (give --token, set WEFT_ADMIN_TOKEN, or -c the manifest whose admin token file to read)' : '';
    throw new AdminCallError(`${call.method} ${call.path}: ${response.status} ${reason}${hint}`);
  }
  return { status: response.status, body: body as T };
}
