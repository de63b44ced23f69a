// Many requests through a proxy at once, on keep-alive connections, counted by status: what the
// distribution tests (weighted splits, balancing policies) measure.

import { Pool } from 'undici';

/** Sends `count` GETs with `concurrency` keep-alive connections; `pathOf(i)` and `headersOf(i)` shape each. */
export async function sendMany(
  base: string,
  count: number,
  pathOf: (i: number) => string,
  headersOf: (i: number) => Record<string, string> = () => ({}),
  concurrency = 16,
): Promise<Map<number, number>> {
  const pool = new Pool(base, { connections: concurrency });
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { statusCode, body } = await pool.request({ method: 'GET', path: pathOf(i), headers: headersOf(i) });
      await body.dump();
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  return statuses;
}
