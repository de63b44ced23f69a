// The admin API of a weft process under test, called over HTTP with JSON.

import { fixtureModule } from './repo.js';
import type { EchoUpstream } from './upstream.js';
import { startWeft, type SpawnOptions } from './weft.js';
import { request, type HttpResponse } from './http.js';

export interface AdminReply {
  status: number;
  headers: HttpResponse['headers'];
  /** The parsed JSON body (undefined when the body is empty or not JSON). */
  json: any;
  text: string;
}

export interface AdminCallOptions {
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Overrides the client's token for this call; null sends none. */
  token?: string | null;
}

export class AdminClient {
  constructor(
    readonly url: string,
    private readonly token?: string,
  ) {}

  async call(method: string, path: string, options: AdminCallOptions = {}): Promise<AdminReply> {
    const token = options.token === undefined ? this.token : options.token;
    // A JSON API client: what it sends is JSON unless the call says otherwise (the admin API refuses
    // a POST, or a body, without its Content-Type).
    const headers: Record<string, string> = method === 'GET' ? { ...options.headers } : { 'content-type': 'application/json', ...options.headers };
    if (token !== undefined && token !== null) headers.authorization = `Bearer ${token}`;
    const body = options.body instanceof Uint8Array ? Buffer.from(options.body.buffer, options.body.byteOffset, options.body.byteLength) : options.body;
    const response = await request(`${this.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    let json: unknown;
    try {
      json = response.body === '' ? undefined : JSON.parse(response.body);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text: response.body };
  }

  /** POST /filters/{name} with a module. */
  upload(name: string, module: Uint8Array, headers: Record<string, string> = {}, options: Omit<AdminCallOptions, 'body' | 'headers'> = {}): Promise<AdminReply> {
    return this.call('POST', `/filters/${name}`, { ...options, body: module, headers: { 'content-type': 'application/wasm', ...headers } });
  }

  /** PUT /chain with a spec (If-Match when `ifMatch` is given). */
  putChain(spec: unknown, ifMatch?: number | string): Promise<AdminReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (ifMatch !== undefined) headers['if-match'] = String(ifMatch);
    return this.call('PUT', '/chain', { body: JSON.stringify(spec), headers });
  }

  async chain(): Promise<{ revision: number; filters: unknown[]; chains?: unknown; routes?: unknown[] }> {
    const reply = await this.call('GET', '/chain');
    if (reply.status !== 200) throw new Error(`GET /chain: ${reply.status} ${reply.text}`);
    return reply.json;
  }

  /** One sample of a metric from /metrics (undefined when absent). */
  async metric(line: string): Promise<number | undefined> {
    const reply = await this.call('GET', '/metrics');
    const found = reply.text.split('\n').find((text) => text.startsWith(`${line} `));
    return found === undefined ? undefined : Number(found.slice(line.length + 1));
  }
}

/**
 * A `weft run` with a token-protected admin API and one tag-version filter (v1) in front of
 * `upstream`: what the registry and hot-swap tests start from. `extra` adds manifest keys.
 */
export async function startTaggedProxy(upstream: EchoUpstream, token: string, extra: Record<string, unknown> = {}, spawnOptions: SpawnOptions = {}) {
  const weft = await startWeft({
    admin: { token },
    clusters: [{ name: 'web', endpoints: [upstream.address] }],
    filters: [{ name: 'tag', module: fixtureModule('tag-version'), config: { version: 'v1' } }],
    access_log: 'off',
    ...extra,
  }, undefined, spawnOptions);
  return { weft, admin: new AdminClient(weft.adminUrl, token), adminUrl: weft.adminUrl };
}
