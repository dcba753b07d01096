// The span `sidetrace doctor` sends: one finished span, made as the app's SDK
// would make it (same resource), for the exporters to send.
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SidetraceConfig } from '../config';
import { withTimeout } from '../start/shutdown';
import { DISTRO_VERSION } from '../version';
import { buildResource, type ServiceIdentity } from './resource';

export async function testSpan(config: SidetraceConfig, identity: ServiceIdentity, waitMs: number): Promise<ReadableSpan> {
  const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const resource = buildResource(config, identity);
  // Cloud detectors answer asynchronously; don't let one that never answers hold the doctor.
  if (resource.waitForAsyncAttributes) await withTimeout(resource.waitForAsyncAttributes(), waitMs);
  let finished: ReadableSpan | undefined;
  const capture: SpanProcessor = {
    onStart: () => {},
    onEnd: (s) => (finished = s),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({ resource, spanProcessors: [capture] });
  provider
    .getTracer('sidetrace', DISTRO_VERSION)
    .startSpan('sidetrace.doctor', { attributes: { 'sidetrace.doctor': true } })
    .end();
  return finished!;
}
