import type { ComponentChildren } from 'preact';
import { html } from '../html.js';
import type { Tone } from '../format.js';

export function Badge({ tone, children, testid }: { tone?: Tone | undefined; children: ComponentChildren; testid?: string }) {
  return html`<span class=${`badge ${tone ?? ''}`} data-testid=${testid}>${children}</span>`;
}
