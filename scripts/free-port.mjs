// A loopback port for a test's collector, Jaeger, PostgreSQL or Redis.
//
// Picked below Linux's ephemeral range (32768–60999 by default): a port the
// kernel hands out for listen(0) is free now, but between that and the server's
// own bind any outgoing connection may take it as its local port, and the
// server then fails with "address already in use". Ports below the range are
// never given to outgoing connections. A port is handed out once per process.
import net from 'node:net';

const LOW = 20000;
const HIGH = 32000;
const given = new Set();

/** @param {number} port @returns {Promise<boolean>} */
function canListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** @returns {Promise<number>} a loopback port nobody listens on right now */
export async function freePort() {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port) || !(await canListen(port))) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no free loopback port in ${LOW}–${HIGH - 1} after 100 tries`);
}
