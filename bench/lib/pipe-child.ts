// The ceiling for any proxy written for Node, run beside the router benchmark: a process that
// only copies bytes between each client connection and its own upstream connection. No HTTP
// parsing, no routing, no pooling: every HTTP-aware router in Node does strictly more work
// per request than this.
//   node dist/bench/lib/pipe-child.js PORT BACKEND_PORT
// Prints {"port":N} once listening; exits on SIGTERM.
import net from 'node:net';

const [port, backend] = process.argv.slice(2).map(Number);
const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: backend, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(port, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
