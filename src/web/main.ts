// The Summon dashboard: Preact + htm (no JSX, no runtime build step), uPlot charts, and only
// the typed SDK to talk to the API (its fetch-based SSE reader can send the token, which a
// browser EventSource cannot). One file per component under components/; format.ts writes
// times, sizes and states; hooks.ts polls. Type-checked by tsconfig.web.json, bundled by
// scripts/build-web.mjs.
import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { html } from './html.js';
import { Shell } from './components/shell.js';

render(html`<${Shell} />`, document.getElementById('app')!);
