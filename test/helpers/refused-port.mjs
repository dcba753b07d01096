// A loopback port where connecting is refused, for tests and benchmarks that need
// an endpoint that is down. A port freed by listen(0) could be taken again by
// another process (CI runs two test legs side by side, and a benchmark's apps
// listen on ephemeral ports), and a "refused" call would then reach its server.
// So: a port below the ephemeral range (32768–60999), checked closed now, and
// not one of the Fetch standard's bad ports (1, 7, 9, …), which fetch refuses to call.
import net from 'node:net';

/** @returns {Promise<number>} */
export async function refusedPort() {
  for (const port of [2, 3, 5, 27, 31]) {
    const refused = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (/** @type {NodeJS.ErrnoException} */ err) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('no closed port below the ephemeral range on 127.0.0.1');
}
