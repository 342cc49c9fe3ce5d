/**
 * The `patchbench` command line. Every command prints either its result or one clear error line
 * (exit code 1 for bad input, 2 for usage), never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PatchbenchError } from '../engine/errors.ts';
import { COMMANDS, usage } from './commands.ts';

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) throw new UsageError(`unknown command "${name}"\n\n${usage()}`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options as ParseArgsConfig['options'], allowPositionals: !!cmd.positional, strict: true });
  } catch (e) {
    throw new UsageError(`${name}: ${(e as Error).message}\n\n${usage(name)}`);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(usage(name));
    return 0;
  }
  return (await cmd.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`patchbench: ${e.message}\n`);
      process.exit(2);
    }
    if (e instanceof PatchbenchError) {
      process.stderr.write(`patchbench: ${e.message}\n`);
      process.exit(e.code === 'cancelled' ? 130 : 1);
    }
    process.stderr.write(`patchbench: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (process.env.PATCHBENCH_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    process.exit(70);
  },
);
