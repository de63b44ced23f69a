// proxy_http_call for filters: a request to one endpoint of a named cluster, answered with the
// whole response (filters read it in one callback), or null when it failed or timed out.

import { WasmResult } from '../abi/enums.js';
import type { HttpCallRequest, HttpCallResponse } from '../abi/host-api.js';
import type { Clusters } from './clusters.js';
import { isHopByHop } from './headers.js';

export function makeHttpCall(clusters: Clusters) {
  return function httpCall(request: HttpCallRequest, done: (response: HttpCallResponse | null) => void): WasmResult {
    const endpoint = clusters.get(request.cluster)?.pick();
    if (endpoint === undefined) return WasmResult.BadArgument;
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
    endpoint.pool
      .request({ method: method as 'GET', path, headers, body: request.body.length > 0 ? request.body : null, signal })
      .then(async (response) => {
        const body = new Uint8Array(await response.body.arrayBuffer());
        const pairs: Array<[string, string]> = [[':status', String(response.statusCode)]];
        for (const [name, value] of Object.entries(response.headers)) {
          if (Array.isArray(value)) for (const v of value) pairs.push([name, v]);
          else if (value !== undefined) pairs.push([name, value]);
        }
        const trailers: Array<[string, string]> = [];
        for (const [name, value] of Object.entries(response.trailers)) if (typeof value === 'string') trailers.push([name, value]);
        done({ headers: pairs, body, trailers });
      })
      .catch(() => done(null));
    return WasmResult.Ok;
  };
}
