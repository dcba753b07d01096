// OTEL_TRACES_SAMPLER as the spec defines it, with the noise policy's
// sampler around it.
import type { Sampler } from '@opentelemetry/sdk-trace-base';
import type { SidetraceConfig } from '../config';
import { NoiseSampler, PathMatcher } from '../policy/noise';

export function createSampler(config: SidetraceConfig): Sampler {
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
      base = new b.TraceIdRatioBasedSampler(ratio);
      break;
    case 'parentbased_always_off':
      base = new b.ParentBasedSampler({ root: new b.AlwaysOffSampler() });
      break;
    case 'parentbased_traceidratio':
      base = new b.ParentBasedSampler({ root: new b.TraceIdRatioBasedSampler(ratio) });
      break;
    default:
      base = new b.ParentBasedSampler({ root: new b.AlwaysOnSampler() });
  }
  return config.noise.enabled ? new NoiseSampler(base, new PathMatcher(config.noise.ignorePaths)) : base;
}
