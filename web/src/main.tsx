import { render } from 'preact';
import { App } from './components/app.js';

const root = document.getElementById('app');
if (!root) throw new Error('#app missing from index.html');
render(<App />, root);
