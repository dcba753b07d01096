// OTEL_TRACES_SAMPLER as the spec defines it, with the noise policy's
// sampler around it.
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base';
import type { SidetraceConfig } from '../config';
import { NoiseSampler, PathMatcher } from '../policy/noise';

const SAMPLED: SamplingResult = Object.freeze({ decision: SamplingDecision.RECORD_AND_SAMPLED });
const DROPPED: SamplingResult = Object.freeze({ decision: SamplingDecision.NOT_RECORD });

/**
 * The SDK's TraceIdRatioBasedSampler, decision for decision: the same upper
 * bound, the XOR of the id's four 32-bit words, and an invalid id (not 32 hex
 * digits, or all zeros) never sampled. It reads the id once, where the SDK's
 * first runs a regular expression over it (isValidTraceId): on ids sliced from
 * the id generator's hex pool that cost about half of an unsampled request's
 * sampling (bench/micro-sampler.mjs). test/sampler.test.ts holds it to the SDK's.
 */
export class TraceIdRatioSampler implements Sampler {
  private readonly ratio: number;
  private readonly upperBound: number;

  constructor(ratio: number) {
    this.ratio = typeof ratio !== 'number' || Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio));
    this.upperBound = this.ratio === 1 ? 0x100000000 : Math.floor(this.ratio * 0xffffffff);
  }

  shouldSample(_context: Context, traceId: string, _spanName?: string, _spanKind?: SpanKind, _attributes?: Attributes, _links?: Link[]): SamplingResult {
    if (typeof traceId !== 'string' || traceId.length !== 32) return DROPPED;
    let accumulation = 0;
    let any = 0;
    for (let i = 0; i < 32; i += 8) {
      let part = 0;
      for (let j = i; j < i + 8; j++) {
        const c = traceId.charCodeAt(j);
        let v: number;
        if (c >= 48 && c <= 57) v = c - 48;
        else if (c >= 97 && c <= 102) v = c - 87;
        else if (c >= 65 && c <= 70) v = c - 55;
        else return DROPPED;
        any |= v;
        part = (part << 4) | v;
      }
      accumulation = (accumulation ^ part) >>> 0;
    }
    return any !== 0 && accumulation < this.upperBound ? SAMPLED : DROPPED;
  }

  toString(): string {
    return `TraceIdRatioBased{${this.ratio}}`;
  }
}

const samplers = new WeakMap<SidetraceConfig, Sampler>();

/**
 * The one sampler of a config: the tracer provider's, and the one the HTTP
 * server instrumentation asks before it starts a span (it builds no span for a
 * request the sampler drops, src/instrumentations/http-server/server.ts).
 * One instance, so both decide alike.
 */
export function samplerFor(config: SidetraceConfig): Sampler {
  let sampler = samplers.get(config);
  if (!sampler) samplers.set(config, (sampler = createSampler(config)));
  return sampler;
}

function createSampler(config: SidetraceConfig): Sampler {
  const b = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { name, ratio } = config.sampler;
  let base: Sampler;
  switch (name) {
    case 'always_on':
      base = new b.AlwaysOnSampler();
      break;
    case 'always_off':
      base = new b.AlwaysOffSampler();
      break;
    case 'traceidratio':
      base = new TraceIdRatioSampler(ratio);
      break;
    case 'parentbased_always_off':
      base = new b.ParentBasedSampler({ root: new b.AlwaysOffSampler() });
      break;
    case 'parentbased_traceidratio':
      base = new b.ParentBasedSampler({ root: new TraceIdRatioSampler(ratio) });
      break;
    default:
      base = new b.ParentBasedSampler({ root: new b.AlwaysOnSampler() });
  }
  return config.noise.enabled ? new NoiseSampler(base, new PathMatcher(config.noise.ignorePaths)) : base;
}
