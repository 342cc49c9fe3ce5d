/**
 * Rotary frequencies from config.json: θ_i = base^(−2i/dims) for each rotated pair, then
 * `rope_scaling` where set — `linear` (every angle divided by the factor) or `llama3` (Llama 3.1/3.2:
 * long wavelengths divided by the factor, short ones kept, a smooth blend between), as in
 * Hugging Face's `_compute_llama3_parameters`.
 */
import type { ConfigFields } from './config.ts';

export function rotaryInvFreq(f: ConfigFields, dims: number, base: number): number[] {
  const invFreq = Array.from({ length: dims / 2 }, (_, i) => base ** (-(2 * i) / dims));
  const s = f.raw.rope_scaling;
  if (s === undefined || s === null) return invFreq;
  if (typeof s !== 'object' || Array.isArray(s)) f.fail(`rope_scaling must be an object or null, got ${JSON.stringify(s)}`);
  const o = s as Record<string, unknown>;
  const type = String(o.rope_type ?? o.type ?? 'default');
  const num = (field: string, fallback?: number): number => {
    const v = o[field] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) f.fail(`rope_scaling.${field} must be a positive number, got ${JSON.stringify(o[field])}`);
    return v;
  };
  switch (type) {
    case 'default':
      return invFreq;
    case 'linear': {
      const factor = num('factor');
      return invFreq.map((x) => x / factor);
    }
    case 'llama3': {
      const factor = num('factor');
      const low = num('low_freq_factor', 1);
      const high = num('high_freq_factor', 4);
      const oldCtx = num('original_max_position_embeddings', 8192);
      if (!(high > low)) f.fail(`rope_scaling.high_freq_factor ${high} must be larger than low_freq_factor ${low}`);
      const lowWavelen = oldCtx / low;
      const highWavelen = oldCtx / high;
      return invFreq.map((freq) => {
        const wavelen = (2 * Math.PI) / freq;
        if (wavelen < highWavelen) return freq;
        if (wavelen > lowWavelen) return freq / factor;
        const smooth = (oldCtx / wavelen - low) / (high - low);
        return (1 - smooth) * (freq / factor) + smooth * freq;
      });
    }
    default:
      return f.fail(`rope_scaling type "${type}" is not supported (supported: default, linear, llama3)`);
  }
}
