/** How tokens are shown: whitespace made visible, and where two token lists differ. */

const VISIBLE: Record<string, string> = { ' ': '␣', '\n': '↵', '\t': '⇥', '\r': '␍' };

/** " Mary" → "␣Mary"; control characters as \u escapes; the empty string as "∅". */
export function showToken(s: string): string {
  if (s === '') return '∅';
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    out += VISIBLE[ch] ?? (code < 0x20 || (code >= 0x7f && code < 0xa0) ? `\\u${code.toString(16).padStart(4, '0')}` : ch);
  }
  return out;
}

/** For each position up to the longer list: true where the lists differ (or one has no token there). */
export function differingPositions<T>(a: readonly T[], b: readonly T[]): boolean[] {
  return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => i >= a.length || i >= b.length || a[i] !== b[i]);
}
