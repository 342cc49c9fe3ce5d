// Entry of the trainer's worker threads: a worker does not inherit the parent's `--import tsx`
// hooks for its entry file, so register tsx here and then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
