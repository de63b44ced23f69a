// Filter-defined metrics, exported by the host next to its own (GET /metrics on the admin
// listener). Define them once, in onConfigure or onVmStart, and keep the object.

import * as hostcalls from "./hostcalls";
import { expectOk } from "./errors";
import { MetricType, WasmResult } from "./types";

function define(metricType: MetricType, name: string): u32 {
  const result = hostcalls.defineMetric(metricType, name);
  expectOk(result.status, "proxy_define_metric(" + name + ")");
  return result.value;
}

function read(metricId: u32): u64 {
  const result = hostcalls.getMetric(metricId);
  expectOk(result.status, "proxy_get_metric");
  return result.value;
}

/** A value that only goes up. */
export class Counter {
  readonly id: u32;
  constructor(name: string) {
    this.id = define(MetricType.Counter, name);
  }
  increment(delta: u64 = 1): WasmResult {
    return hostcalls.incrementMetric(this.id, <i64>delta);
  }
  get(): u64 {
    return read(this.id);
  }
}

/** A value that goes up and down. */
export class Gauge {
  readonly id: u32;
  constructor(name: string) {
    this.id = define(MetricType.Gauge, name);
  }
  set(value: u64): WasmResult {
    return hostcalls.recordMetric(this.id, value);
  }
  add(delta: i64): WasmResult {
    return hostcalls.incrementMetric(this.id, delta);
  }
  get(): u64 {
    return read(this.id);
  }
}

/** A distribution of observed values (the host cannot read it back). */
export class Histogram {
  readonly id: u32;
  constructor(name: string) {
    this.id = define(MetricType.Histogram, name);
  }
  record(value: u64): WasmResult {
    return hostcalls.recordMetric(this.id, value);
  }
}
