// The proxy tests of proxy.test.ts, run again with the plain listener on node:http
// (`listen.engine: node`): both engines must pass the same tests.

process.env.WEFT_TEST_ENGINE = 'node';
await import('./proxy.test.js');
