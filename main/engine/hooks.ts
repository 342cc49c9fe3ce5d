/**
 * TransformerLens hook names, in the order a forward pass reaches them. GPT-2's list is frozen by a
 * test so a rename cannot slip in; the fixtures' per-hook statistics use the same names. Other
 * families declare their own sites (Architecture.blockHooks).
 */
export const BLOCK_HOOKS = [
  'hook_resid_pre',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_pattern',
  'attn.hook_z',
  'hook_attn_out',
  'hook_resid_mid',
  'mlp.hook_pre',
  'mlp.hook_post',
  'hook_mlp_out',
  'hook_resid_post',
] as const;

export type BlockHook = (typeof BLOCK_HOOKS)[number];

export function hookNames(nLayers: number, blockHooks: readonly string[] = BLOCK_HOOKS, embedHooks: readonly string[] = ['hook_embed', 'hook_pos_embed']): string[] {
  const names = [...embedHooks];
  for (let l = 0; l < nLayers; l++) for (const h of blockHooks) names.push(`blocks.${l}.${h}`);
  return names;
}

/** Shape of a hook's activation for a batch of `batch` prompts of `pos` tokens. */
export function hookShape(
  name: string,
  batch: number,
  pos: number,
  d: { dModel: number; nHeads: number; nKvHeads?: number; dHead: number; dMlp: number },
): number[] {
  if (/attn\.hook_(rot_)?k$|attn\.hook_v$/.test(name)) return [batch, pos, d.nKvHeads ?? d.nHeads, d.dHead];
  if (/attn\.hook_(rot_)?q$|attn\.hook_z$/.test(name)) return [batch, pos, d.nHeads, d.dHead];
  if (name.endsWith('attn.hook_pattern') || name.endsWith('attn.hook_attn_scores')) return [batch, d.nHeads, pos, pos];
  if (/mlp\.hook_(pre|pre_linear|post)$/.test(name)) return [batch, pos, d.dMlp];
  return [batch, pos, d.dModel];
}

/** Splits `blocks.3.attn.hook_z` into layer 3 and `attn.hook_z`. */
export function parseHookName(name: string): { layer: number; site: string } | undefined {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  return m ? { layer: Number(m[1]), site: m[2] } : undefined;
}
