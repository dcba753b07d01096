'use strict';
// A minimal in-process job queue. The worker loop is started at boot, so jobs
// run outside the request that enqueued them (after its response is sent);
// each job gets its own root span, linked to the request that asked for it.
const { trace } = require('@opentelemetry/api');

const tracer = trace.getTracer('sidetrace-demo-jobs');

function createQueue() {
  const pending = [];
  let wake = null;

  function enqueue(name, run) {
    const requestedBy = trace.getActiveSpan()?.spanContext();
    pending.push({ name, run, requestedBy });
    if (wake) {
      wake();
      wake = null;
    }
  }

  async function work() {
    for (;;) {
      if (pending.length === 0) await new Promise((resolve) => (wake = resolve));
      const job = pending.shift();
      const links = job.requestedBy ? [{ context: job.requestedBy }] : [];
      await tracer.startActiveSpan(`job ${job.name}`, { links, attributes: { 'job.name': job.name } }, async (span) => {
        try {
          await job.run();
        } catch (err) {
          span.recordException(err);
          span.setStatus({ code: 2, message: err.message });
          console.error(`job ${job.name} failed: ${err.message}`);
        } finally {
          span.end();
        }
      });
    }
  }

  return { enqueue, start: () => void work() };
}

module.exports = { createQueue };
