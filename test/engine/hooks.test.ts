/** The hook vocabulary is TransformerLens's, frozen here so that a rename cannot slip in. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hookNames, hookShape, parseHookName } from '../../main/engine/hooks.ts';
import { componentIndex, componentLabel, indexShape, KINDS } from '../../main/engine/patching/components.ts';
import { parseConfig } from '../../main/engine/config.ts';

test('hook names, in forward order', () => {
  assert.deepEqual(hookNames(1), [
    'hook_embed',
    'hook_pos_embed',
    'blocks.0.hook_resid_pre',
    'blocks.0.attn.hook_q',
    'blocks.0.attn.hook_k',
    'blocks.0.attn.hook_v',
    'blocks.0.attn.hook_pattern',
    'blocks.0.attn.hook_z',
    'blocks.0.hook_attn_out',
    'blocks.0.hook_resid_mid',
    'blocks.0.mlp.hook_pre',
    'blocks.0.mlp.hook_post',
    'blocks.0.hook_mlp_out',
    'blocks.0.hook_resid_post',
  ]);
  assert.equal(hookNames(12).length, 2 + 12 * 12);
  assert.deepEqual(parseHookName('blocks.11.attn.hook_z'), { layer: 11, site: 'attn.hook_z' });
});

test('hook shapes follow TransformerLens', () => {
  const d = { dModel: 64, nHeads: 4, dHead: 16, dMlp: 256 };
  assert.deepEqual(hookShape('blocks.0.attn.hook_q', 8, 15, d), [8, 15, 4, 16]);
  assert.deepEqual(hookShape('blocks.0.attn.hook_pattern', 8, 15, d), [8, 4, 15, 15]);
  assert.deepEqual(hookShape('blocks.1.mlp.hook_post', 8, 15, d), [8, 15, 256]);
  assert.deepEqual(hookShape('blocks.1.hook_resid_mid', 8, 15, d), [8, 15, 64]);
});

test('component keys are injective and labels distinct', () => {
  const cfg = parseConfig({ n_layer: 3, n_head: 4, n_embd: 16, vocab_size: 100, n_positions: 32, bos_token_id: 99 });
  for (const kind of KINDS) {
    const shape = indexShape(kind, cfg, 5);
    const n = shape.reduce((a, b) => a * b, 1);
    const keys = new Set<string>();
    const labels = new Set<string>();
    for (let i = 0; i < n; i++) {
      const idx = componentIndex(shape, i);
      assert.ok(idx.every((v, d) => v >= 0 && v < shape[d]));
      keys.add(idx.join(','));
      labels.add(componentLabel(kind, idx));
    }
    assert.equal(keys.size, n, `${kind} indices`);
    assert.equal(labels.size, n, `${kind} labels`);
  }
  assert.equal(componentLabel('head_z', [5, 3]), 'L5H3');
  assert.equal(componentLabel('head_z_pos', [5, 3, 7]), 'L5H3 pos 7');
  assert.equal(componentLabel('neuron', [2, 37]), 'L2N37');
  assert.equal(componentLabel('resid_pre', [1, 4]), 'resid_pre L1 pos 4');
  assert.equal(componentLabel('head_q', [0, 1]), 'L0H1 q');
});
