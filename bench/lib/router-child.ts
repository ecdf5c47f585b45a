// Runs a Summon Router in its own process for benchmarks:
//   node dist/bench/lib/router-child.js ROUTER_PORT BACKEND_PORT [APP]
// Prints {"port":N} once listening; exits on SIGTERM.
import { Router } from '../../src/router/router.js';

const [portArg, backendArg, app = 'bench'] = process.argv.slice(2);
const router = new Router({ port: Number(portArg), host: '127.0.0.1' });
router.setRoute(app, { kind: 'serving', upstreams: [{ id: 'backend', address: '127.0.0.1', port: Number(backendArg) }] });
const { port } = await router.listen();
process.stdout.write(JSON.stringify({ port }) + '\n');
process.on('SIGTERM', () => {
  void router.close(1000).then(() => process.exit(0));
});
