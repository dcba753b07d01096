// Whether this thread is a worker_threads Worker, without loading
// node:worker_threads (4–10 ms of start-up on Node 20): in a Worker, Node
// replaces process.chdir by a function marked `disabled` (Node 20 to 26;
// test/runtimes.test.ts fails if that changes).
export function inWorkerThread(): boolean {
  return (process.chdir as { disabled?: boolean }).disabled === true;
}
