// proxy_http_call for filters: a request to one endpoint of a named cluster, answered with the
// whole response (filters read it in one callback), or null when it failed or timed out.
// The response body is capped (the calling filter's http_call_response_bytes quota, whose default
// is limits.max_http_call_response_bytes): a larger one fails the
// call, as Envoy's async client resets a callout past its buffer limit, rather than hand the
// filter a truncated body.

import type { Readable } from 'node:stream';
import { WasmResult } from '../abi/enums.js';
import type { HttpCallRequest, HttpCallResponse } from '../abi/host-api.js';
import type { Clusters } from './clusters.js';
import { isHopByHop } from './headers.js';

export function makeHttpCall(clusters: Clusters) {
  return function httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null, failure?: string) => void): WasmResult {
    const endpoint = clusters.get(request.cluster)?.pick();
    if (endpoint === undefined) return WasmResult.BadArgument;
    // The pools end a request body with no trailer section (h1-upstream.ts): a call with
    // trailers cannot be sent as asked, so it is refused rather than sent without them.
    if (request.trailers.length > 0) return WasmResult.BadArgument;
    let method = '';
    let path = '';
    let authority = '';
    const headers: string[] = [];
    for (const [name, value] of request.headers) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name.charCodeAt(0) !== 58 && !isHopByHop(name) && name !== 'host') headers.push(name, value);
    }
    if (method === '' || path === '' || authority === '') return WasmResult.BadArgument;
    headers.push('host', authority);
    const signal = request.timeoutMs > 0 ? AbortSignal.timeout(request.timeoutMs) : undefined;
    const sent = endpoint.pool.request({ method: method as 'GET', path, headers, body: request.body.length > 0 ? request.body : null, signal });
    // One settle, one done: a throw inside done must not become a second, failed answer.
    sent
      .then(async (response): Promise<HttpCallResponse> => {
        const body = await readCapped(response.body, request.maxResponseBytes);
        const pairs: Array<[string, string]> = [[':status', String(response.statusCode)]];
        for (const [name, value] of Object.entries(response.headers)) {
          if (Array.isArray(value)) for (const v of value) pairs.push([name, v]);
          else if (value !== undefined) pairs.push([name, value]);
        }
        const trailers: Array<[string, string]> = [];
        for (const [name, value] of Object.entries(response.trailers)) if (typeof value === 'string') trailers.push([name, value]);
        return { headers: pairs, body, trailers };
      })
      .then(
        (answer) => done(answer),
        (error: unknown) => done(null, error instanceof ResponseTooLarge ? error.message : 'reset'),
      );
    return WasmResult.Ok;
  };
}

class ResponseTooLarge extends Error {}

/** The whole body, or ResponseTooLarge as soon as it passes `limit` (the rest is not read). */
async function readCapped(body: Readable, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new ResponseTooLarge(`response body larger than ${limit} bytes (the filter's http_call_response_bytes quota)`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
