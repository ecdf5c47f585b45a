import { createServer } from 'node:net';

/** Asks the kernel for a free loopback port. The port is released before returning, so a
 *  caller racing another process may lose it; the instance then fails to bind and is restarted
 *  on a fresh port. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
