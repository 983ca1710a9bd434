/** `k6/metrics`: the four metric types, recording samples in the VU. */
import { vu } from './vu-context.ts';
import type { MetricType } from './wire.ts';

function metric(type: MetricType) {
  return class {
    readonly name: string;

    constructor(name: string, isTime = false) {
      vu.declare(name, type, isTime);
      this.name = name;
    }

    add(value: number | boolean, tags?: Record<string, string>): void {
      vu.emit(this.name, value, tags);
    }
  };
}

export const Counter = metric('counter');
export const Gauge = metric('gauge');
export const Rate = metric('rate');
export const Trend = metric('trend');

export default { Counter, Gauge, Rate, Trend };
