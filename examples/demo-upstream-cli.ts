// `node dist/examples/demo-upstream-cli.js NAME HOST PORT`: one demo service, for the examples.

import { startDemoUpstream } from './demo-upstream.js';

const [name = 'demo', host = '127.0.0.1', port = '3001'] = process.argv.slice(2);
await startDemoUpstream(name, host, Number(port));
console.log(`${name} listening on ${host}:${port}`);
