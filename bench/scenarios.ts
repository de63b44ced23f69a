// What the load generator sends: the request shapes of the issues, each with a realistic set of
// headers. wrk speaks HTTP/1.1; the h2c scenarios run h2load (bench/h2load.ts) and only against
// the configurations that serve h2c.

export interface Scenario {
  id: string;
  title: string;
  path: string;
  /** Connections; undefined means the run's --connections (50 by default). */
  connections?: number;
  /** Lua lines that shape the request, run before bench/wrk/report.lua (wrk only). */
  lua: string;
  /** HTTP/2 without TLS, by prior knowledge, from h2load; absent: HTTP/1.1 from wrk. */
  protocol?: 'h2c';
  /** h2c: streams each connection keeps open at once (h2load -m). */
  streams?: number;
  extraHeaders: string[];
}

/** The ~10 headers a browser or API client sends besides Host (wrk adds Host itself). */
export const requestHeaders = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Accept: application/json, text/plain, */*',
  'Accept-Language: en-GB,en;q=0.9,de;q=0.8',
  'Accept-Encoding: gzip, deflate, br',
  'Referer: https://app.example.com/dashboard/orders?page=2',
  'Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; consent=1',
  'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl',
  'X-Request-Id: 6f1c2a9e-8d4b-4f7a-9c3e-2b5d7e9f1a3c',
  'Cache-Control: no-cache',
  'Sec-Fetch-Mode: cors',
];

export const postBodyBytes = 64 * 1024;

export const scenarios: Scenario[] = [
  { id: 'get', title: 'GET, 100-byte response', path: '/', lua: '', extraHeaders: [] },
  { id: 'get-c1', title: 'GET, 100-byte response, latency floor', path: '/', connections: 1, lua: '', extraHeaders: [] },
  {
    id: 'get-h2',
    title: 'GET, 100-byte response, over h2c (h2load: 10 streams on each connection, 50 in flight as in get)',
    path: '/',
    connections: 5,
    protocol: 'h2c',
    streams: 10,
    lua: '',
    extraHeaders: [],
  },
  {
    id: 'post-64k',
    title: 'POST 64 KiB, echoed back',
    path: '/echo',
    lua: `wrk.method = "POST"\nwrk.body = string.rep("x", ${postBodyBytes})\n`,
    extraHeaders: ['Content-Type: application/octet-stream'],
  },
];

/**
 * Scenarios of the issue that cannot run yet. They are reported as pending in the JSON and
 * RESULTS.md (never faked) until what they wait for exists. None is waiting now: hot swap under
 * load runs in bench/hot-swap.ts.
 */
export const pendingScenarios: { id: string; what: string; waitsFor: string }[] = [];
