// The scale policy the autoscaler follows: min, max, target CPU per instance and the idle
// timeout (scale to zero after that long without a request), and where it comes from. A deploy
// or admin token changes it (`summon autoscale`); the app's summon.toml no longer sets it then.
import { useState } from 'preact/hooks';
import type { AppView, SummonClient, WhoAmI } from '../../sdk/client.js';
import { html } from '../html.js';
import { duration } from '../format.js';
import { useProgress } from './progress.js';

export function Autoscale({ client, app, who, onDone }: { client: SummonClient; app: AppView; who: WhoAmI | null; onDone: () => void }) {
  const s = app.scale;
  const [min, setMin] = useState('');
  const [max, setMax] = useState('');
  const [cpu, setCpu] = useState('');
  const [idle, setIdle] = useState('');
  const p = useProgress(onDone);
  const canWrite = who !== null && who.token.scope !== 'read';
  const save = (ev: Event) => {
    ev.preventDefault();
    void p.run(async () => {
      const body: { min?: number; max?: number; targetCpu?: number; idleTimeout?: string } = {};
      const whole = (v: string, what: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a whole number ≥ 0, got "${v}"`);
        return n;
      };
      if (min.trim()) body.min = whole(min.trim(), 'min');
      if (max.trim()) body.max = whole(max.trim(), 'max');
      if (cpu.trim()) {
        const n = Number(cpu.trim().replace(/%$/, ''));
        if (!Number.isFinite(n) || n <= 0) throw new Error(`the target CPU is a percentage of a core per instance, like 80, got "${cpu}"`);
        body.targetCpu = n / 100;
      }
      if (idle.trim()) body.idleTimeout = idle.trim();
      if (Object.keys(body).length === 0) throw new Error('nothing to change: fill in min, max, target CPU or idle timeout');
      const a = await client.autoscale(app.name, body);
      setMin(''); setMax(''); setCpu(''); setIdle('');
      return `Autoscaling ${a.name} between ${a.scale.min} and ${a.scale.max} instance(s), target CPU ${Math.round(a.scale.targetCpu * 100)}% per instance.`;
    });
  };
  const field = (id: string, label: string, value: string, set: (v: string) => void, placeholder: string) => html`
    <div class="group"><label for=${id}>${label}</label>
      <input id=${id} class="narrow" data-testid=${id} value=${value} placeholder=${placeholder} autocomplete="off"
        onInput=${(e: Event) => set((e.currentTarget as HTMLInputElement).value)} /></div>`;
  return html`
    <h2>Autoscale <span class="sub">policy from ${app.scalePolicySource === 'autoscale' ? 'summon autoscale' : app.scalePolicySource === 'manifest' ? 'summon.toml' : 'the defaults'}</span></h2>
    <dl class="facts" data-testid="autoscale-policy" data-min=${s.min} data-max=${s.max} data-target=${s.targetCpu} data-source=${app.scalePolicySource}>
      <div><dt>min</dt><dd data-testid="autoscale-min">${s.min}</dd></div>
      <div><dt>max</dt><dd data-testid="autoscale-max">${s.max}</dd></div>
      <div><dt>target CPU</dt><dd data-testid="autoscale-target">${Math.round(s.targetCpu * 100)}% per instance</dd></div>
      <div><dt>idle timeout</dt><dd data-testid="autoscale-idle">${duration(s.idleTimeoutMs)}</dd></div>
      ${app.manualHoldUntil && app.manualHoldUntil > Date.now() && html`<div><dt>scaled by hand</dt><dd>no scale-in until ${new Date(app.manualHoldUntil).toLocaleTimeString()}</dd></div>`}
    </dl>
    ${canWrite && html`
      <form class="actions" onSubmit=${save}>
        ${field('autoscale-min-input', 'min', min, setMin, String(s.min))}
        ${field('autoscale-max-input', 'max', max, setMax, String(s.max))}
        ${field('autoscale-cpu-input', 'target CPU %', cpu, setCpu, String(Math.round(s.targetCpu * 100)))}
        ${field('autoscale-idle-input', 'idle timeout', idle, setIdle, s.idleTimeoutMs ? duration(s.idleTimeoutMs) : '30m')}
        <button class="primary" type="submit" data-testid="autoscale-save" disabled=${p.busy}>Save</button>
      </form>`}
    ${p.view('autoscale')}`;
}
