// Cases whose subject is the collector's or Jaeger's own behaviour: Go programs
// that run the same under any Node (the test process only sends OTLP or starts
// the stack). CI runs them once per run: scripts/test-matrix.sh sets
// SIDETRACE_TEST_COLLECTOR_CASES=done on the Node 24 leg, after the Node 20 leg
// ran them. A local run always runs them.
export const collectorCase: { skip?: string } =
  process.env.SIDETRACE_TEST_COLLECTOR_CASES === 'done' ? { skip: "collector and Jaeger behaviour, already run by this CI run's Node 20 leg" } : {};
