// A bound on the disk a build step writes into its build directory (checkout, HOME and TMPDIR
// are all inside it): `du` every couple of seconds while the step runs, one at a time, and a
// callback once the directory passes the limit. Writes elsewhere are the sandbox's to stop.
import { execFile } from 'node:child_process';

export interface DiskWatch {
  stop(): void;
}

export function watchDisk(dir: string, limitBytes: number, onOver: (bytes: number) => void, intervalMs = 2000): DiskWatch {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const check = () => {
    timer = null;
    // -s one total, -x this filesystem only, -b apparent bytes (a sparse file counts whole).
    execFile('du', ['-sxb', '--', dir], { timeout: 60_000 }, (err, stdout) => {
      if (stopped) return;
      const bytes = Number(stdout.split('\t')[0]);
      if (!err && Number.isFinite(bytes) && bytes > limitBytes) {
        stopped = true;
        onOver(bytes);
        return;
      }
      timer = setTimeout(check, intervalMs);
    });
  };
  timer = setTimeout(check, intervalMs);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
