// Worker threads start from plain JavaScript; this loads the TypeScript worker through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./part-worker.ts');
