// What the client-span tests (http.request and fetch) call: a server that
// records the traceparent each request arrived with and answers by path, and
// the URL of a port where nothing listens.
import http from 'node:http';
import { refusedPort } from './refused-port.mjs';

/**
 * A request listener that records each request's traceparent in `received` (by URL; undefined: none) and answers:
 * `/hang…` never, `/large…` with 8 MiB, `/missing…` 404, `/fail…` 500, `/redirect…` 302 to `redirectTo`,
 * anything else 200 with the request's body echoed.
 */
export function clientTarget(received: () => Map<string, string | undefined>, redirectTo: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = req.url ?? '/';
    received().set(url, req.headers.traceparent as string | undefined);
    if (url.startsWith('/hang')) return; // never answered: the timeout and abort cases
    if (url.startsWith('/large')) return void res.end(Buffer.alloc(8 * 1024 * 1024, 'x'));
    if (url.startsWith('/missing')) res.statusCode = 404;
    if (url.startsWith('/fail')) res.statusCode = 500;
    if (url.startsWith('/redirect')) {
      res.statusCode = 302;
      res.setHeader('location', redirectTo);
    }
    req.pipe(res);
  };
}

/** An http://127.0.0.1 URL where connecting is refused (./refused-port.mjs). */
export async function refusedUrl(): Promise<string> {
  return `http://127.0.0.1:${await refusedPort()}`;
}
