// Custom root work (a migration batch, a migration run's marker spans, a
// deploy) runs through here. With the OpenTelemetry SDK it simply runs; with
// SIDETRACE_AGENT=newrelic the agent installs a runner that wraps the work in a
// named background transaction, because the agent drops OpenTelemetry root
// spans that start outside a transaction.
export type RootWorkRunner = <T>(name: string, group: string, work: () => Promise<T>) => Promise<T>;

let runner: RootWorkRunner = (_name, _group, work) => work();

export function setRootWorkRunner(r: RootWorkRunner): void {
  runner = r;
}

/** Run `work` as a unit of root work named `name` in `group` (e.g. 'Migration', 'Deploy'). */
export function runAsRootWork<T>(name: string, group: string, work: () => Promise<T>): Promise<T> {
  return runner(name, group, work);
}
