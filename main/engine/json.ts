/**
 * What is wrong with a JSON text, in words that never quote it. V8's own messages quote the text
 * ("Unexpected token 'r', "root:x:0:0"... is not valid JSON"), and a config.json that is a link to
 * another file would then show that file's first bytes to whoever reads the error.
 */
export function jsonProblem(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (/Unexpected end/i.test(message)) return 'it ends too early';
  const at = /at position (\d+)/.exec(message);
  return at ? `a syntax error at character ${Number(at[1]) + 1}` : 'a syntax error';
}
