// The process log: pino JSON lines on stdout. Writes go through an asynchronous sonic-boom
// buffer (pino flushes it synchronously on exit), so logging never blocks the event loop.

import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevelName } from '../config/schema.js';

export type { Logger };

export function createLogger(level: LogLevelName, destination: DestinationStream = pino.destination({ dest: 1, sync: false })): Logger {
  return pino({ level, base: { pid: process.pid } }, destination);
}

/** The stream a logger writes to; the access log shares it so lines never interleave mid-line. */
export function loggerDestination(logger: Logger): DestinationStream {
  return (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
}
