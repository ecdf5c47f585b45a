// The dashboard's two hooks: the location hash (its router) and polling an SDK call.
import { useEffect, useState } from 'preact/hooks';

export function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

export interface Polled<T> {
  data: T | null;
  error: Error | null;
  refresh: () => void;
}

/** Calls `load` now and every `ms`; keeps the last answer and the last error. */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[]): Polled<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null }>({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const data = await load();
        if (alive) setState({ data, error: null });
      } catch (e) {
        if (alive) setState((s) => ({ data: s.data, error: e as Error }));
      }
      if (alive) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { ...state, refresh: () => setTick((t) => t + 1) };
}
