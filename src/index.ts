// The library API: start/shutdown for code-first setup, plus the custom-span
// helpers for migrations and deploys.
export { start, shutdown, forceFlush, exportStats, ConfigError } from './start';
export type { StartOptions, StartResult } from './start';
export { readConfig } from './config';
export type { SidetraceConfig, ConfigProblem } from './config';
// Migration batch tracing (src/migration/).
export * from './migration';
export { traceDeploy } from './deploy/deploy';
export type { DeployHandle, TraceDeployOptions } from './deploy/deploy';
export { githubRunTraceId } from './deploy/trace-id';
// Custom root work of your own (a nightly job, a queue consumer): with SIDETRACE_AGENT=newrelic it becomes a named background transaction.
export { runAsRootWork } from './tracing/root-work';
