/** What the job list calls a job: its kind and a few words on what it computes. */
import type { PatchRequest, Req } from '../../shared/contract.ts';
import type { JobParams } from './host.ts';
import type { JobDescription } from './jobs.ts';

const plural = (n: number, one: string) => `${n.toLocaleString('en-US')} ${one}${n === 1 ? '' : 's'}`;

function patchingMethod(r: PatchRequest): string {
  const method = r.method === 'both' ? 'attribution + activation' : r.method;
  const atpStar = r.qkFix && r.gradDrop ? 'AtP*' : r.qkFix ? 'QK fix' : r.gradDrop ? 'GradDrop' : '';
  return [method, atpStar, r.verifyTop ? `verify top ${r.verifyTop}` : ''].filter(Boolean).join(', ');
}

/** e.g. "attribution · 3 kinds · 64 pairs", "EAP-IG circuit · 64 pairs · noising" */
export function jobDescription(job: JobParams): JobDescription {
  const { pairs, request } = job.params as Req<'job:start'> | Req<'circuit:start'>;
  // Denoising is the default; a noising run says so, as two otherwise equal jobs differ only there.
  const noising = request.direction === 'noising' ? ['noising'] : [];
  if (job.kind === 'circuit') {
    const r = job.params.request;
    return { kind: 'circuit', label: [`${r.method === 'eap-ig' ? 'EAP-IG' : 'EAP'} circuit`, plural(pairs.length, 'pair'), ...noising].join(' · ') };
  }
  const r = job.params.request;
  const kinds = r.kinds.length === 1 ? r.kinds[0] : plural(r.kinds.length, 'kind');
  return { kind: 'patching', label: [patchingMethod(r), kinds, plural(pairs.length, 'pair'), ...noising].join(' · ') };
}
