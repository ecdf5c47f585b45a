// Running one change at a time (config, autoscale, destroy…) with its progress lines, the
// message it ended with, or its error: what every form on the app page shows under it.
import { useState } from 'preact/hooks';
import type { StreamResult } from '../../sdk/client.js';
import { html } from '../html.js';

export interface Progress {
  busy: boolean;
  run: (f: (line: (l: string) => void) => Promise<StreamResult | string | void>) => Promise<boolean>;
  view: (testid: string) => unknown;
}

export function useProgress(onDone?: () => void): Progress {
  const [busy, setBusy] = useState(false);
  const [out, setOut] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const run: Progress['run'] = async (f) => {
    setBusy(true);
    setError(null);
    setOut([]);
    try {
      const r = await f((l) => setOut((o) => [...o, l]));
      if (typeof r === 'string') setOut((o) => [...o, r]);
      // The result's message, unless the last progress line already said it.
      else if (r && r.message) setOut((o) => (o.length && o[o.length - 1]!.endsWith(r.message!) ? o : [...o, r.message!]));
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    } finally {
      setBusy(false);
      onDone?.();
    }
  };
  const view = (testid: string) => html`
    ${error && html`<div class="error" data-testid=${`${testid}-error`}>${error}</div>`}
    ${out.length > 0 && html`<div class="output mono" data-testid=${`${testid}-output`}>${out.join('\n')}</div>`}`;
  return { busy, run, view };
}
