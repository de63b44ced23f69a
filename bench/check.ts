// Before a configuration is timed, it must answer correctly: numbers from a proxy that
// drops bodies or hangs on HEAD would mean nothing.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:http2';
import { request } from 'undici';
import { upstreamBody } from './nginx.js';
import { postBodyBytes } from './scenarios.js';

const timeouts = { headersTimeout: 3_000, bodyTimeout: 3_000 };

export async function checkAnswers(id: string, port: number): Promise<void> {
  const origin = `http://127.0.0.1:${port}`;
  await expect(id, 'GET /', async () => {
    const res = await request(`${origin}/`, timeouts);
    const text = await res.body.text();
    if (res.statusCode !== 200) return `status ${res.statusCode}: ${text.slice(0, 200)}`;
    return text === upstreamBody ? undefined : `body of ${text.length} bytes is not the upstream's 100`;
  });
  await expect(id, 'HEAD /', async () => {
    const res = await request(`${origin}/`, { method: 'HEAD', ...timeouts });
    await res.body.dump();
    return res.statusCode === 200 ? undefined : `status ${res.statusCode}`;
  });
  await expect(id, 'POST /echo (64 KiB)', async () => {
    const sent = randomBytes(postBodyBytes);
    const res = await request(`${origin}/echo`, {
      method: 'POST',
      body: sent,
      headers: { 'content-type': 'application/octet-stream' },
      ...timeouts,
    });
    const got = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) return `status ${res.statusCode}: ${got.toString('utf8', 0, 200)}`;
    return got.equals(sent) ? undefined : `echoed ${got.length} bytes that differ from the ${sent.length} sent`;
  });
}

/** An h2c configuration: GET / over HTTP/2 by prior knowledge brings the upstream's body. */
export async function checkH2cAnswers(id: string, port: number): Promise<void> {
  await expect(id, 'GET / over h2c', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      return await new Promise<string | undefined>((resolve, reject) => {
        const stream = session.request({ ':path': '/' });
        let status = 0;
        let text = '';
        stream.on('response', (headers) => (status = Number(headers[':status'])));
        stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        stream.on('end', () => resolve(status !== 200 ? `status ${status}: ${text.slice(0, 200)}` : text === upstreamBody ? undefined : `body of ${text.length} bytes is not the upstream's 100`));
        stream.on('error', reject);
        stream.setTimeout(3_000, () => stream.destroy(new Error('no answer within 3 s')));
      });
    } finally {
      session.close();
    }
  });
}

async function expect(id: string, what: string, attempt: () => Promise<string | undefined>): Promise<void> {
  let problem: string | undefined;
  try {
    problem = await attempt();
  } catch (error) {
    problem = (error as Error).message;
  }
  if (problem) throw new Error(`${id}: ${what} answered wrongly: ${problem}`);
}
