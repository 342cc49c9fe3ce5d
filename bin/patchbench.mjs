#!/usr/bin/env node
// The command line runs the TypeScript sources directly through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../main/cli/main.ts');
