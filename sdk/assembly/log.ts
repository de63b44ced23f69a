// Logging through the host (proxy_log) and the host's clock.

import * as hostcalls from "./hostcalls";
import { expectOk } from "./errors";
import { LogLevel } from "./types";

/** Logs one line at `level`; the host prefixes it with the filter's name. */
export function log(level: LogLevel, message: string): void {
  hostcalls.log(level, message);
}

export function logTrace(message: string): void { hostcalls.log(LogLevel.Trace, message); }
export function logDebug(message: string): void { hostcalls.log(LogLevel.Debug, message); }
export function logInfo(message: string): void { hostcalls.log(LogLevel.Info, message); }
export function logWarn(message: string): void { hostcalls.log(LogLevel.Warn, message); }
export function logError(message: string): void { hostcalls.log(LogLevel.Error, message); }
export function logCritical(message: string): void { hostcalls.log(LogLevel.Critical, message); }

/** The host's current log level: skip building messages below it. */
export function getLogLevel(): LogLevel {
  const result = hostcalls.getLogLevel();
  expectOk(result.status, "proxy_get_log_level");
  return result.value;
}

/** Wall-clock time in nanoseconds since the Unix epoch. */
export function getCurrentTimeNanoseconds(): u64 {
  const result = hostcalls.getCurrentTimeNanoseconds();
  expectOk(result.status, "proxy_get_current_time_nanoseconds");
  return result.value;
}
