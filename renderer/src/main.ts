import { mount } from 'svelte';
import App from './App.svelte';
import './styles.css';
import { AppState } from './state/app.svelte.ts';
import { pickTransport } from './transport/index.ts';
import { viewHooks } from './lib/hooks.ts';

const app = new AppState(pickTransport());
mount(App, { target: document.getElementById('app')!, props: { app } });
void app.init();
// For end-to-end tests and the curious: the state is inspectable from the devtools console.
(window as unknown as { patchbench_app: AppState }).patchbench_app = app;
(window as unknown as { patchbench_views: typeof viewHooks }).patchbench_views = viewHooks;
