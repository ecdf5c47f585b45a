// The VM runtimes a node offers beside the process runtime. Loaded lazily so a host without
// QEMU pays nothing for them.
import type { Runtime } from './runtime.js';

export async function vmRuntimes(stateDir: string): Promise<Runtime[]> {
  const out: Runtime[] = [];
  try {
    const { QemuRuntime } = await import('./qemu/qemu-runtime.js');
    out.push(new QemuRuntime({ stateDir }));
  } catch {
    // Not built in this tree.
  }
  try {
    const path = './solo5/solo5-runtime.js';
    const { Solo5Runtime } = (await import(path)) as { Solo5Runtime: new (o: { target: string; stateDir: string }) => Runtime };
    out.push(new Solo5Runtime({ target: 'solo5-hvt', stateDir }), new Solo5Runtime({ target: 'solo5-spt', stateDir }));
  } catch {
    // Not built in this tree.
  }
  return out;
}
