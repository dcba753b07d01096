'use strict';
// The benchmark's hello-world: one express route, as small as a real service
// gets. On listening it prints one line the runner parses: the URL, the peak
// RSS so far (KiB), the time since the process started (ms) and the CPU time
// it used so far (ms; steadier than wall time on a busy machine).
const express = require('express');

const app = express();
app.get('/hello', (req, res) => res.send('hello world'));

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { maxRSS } = process.resourceUsage();
  const cpu = process.cpuUsage();
  console.log(
    `listening on http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port} maxrss_kib=${maxRSS} uptime_ms=${performance.now().toFixed(1)} cpu_ms=${((cpu.user + cpu.system) / 1000).toFixed(1)}`,
  );
});
