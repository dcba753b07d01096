// SIDETRACE_AGENT=newrelic: New Relic's own agent instead of the OpenTelemetry SDK.
import type { SidetraceConfig } from './config';
import { log } from './logging';

export function startNewRelicAgent(_config: SidetraceConfig): boolean {
  log.warn('SIDETRACE_AGENT=newrelic is not available in this version; tracing is off');
  return false;
}
