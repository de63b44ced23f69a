// The request-intake tests of request-intake.test.ts, run again with the plain listener on
// node:http (`listen.engine: node`): framing, smuggling and path checks answer alike on both engines.

process.env.WEFT_TEST_ENGINE = 'node';
await import('./request-intake.test.js');
