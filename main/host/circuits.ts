/** Circuits between the engine's forms (project files, `patchbench circuit` JSON) and the contract's. */
import type { CircuitResult, Provenance } from '../../shared/contract.ts';
import { parseCircuitJson } from '../engine/circuits/report.ts';
import type { ProjectCircuit } from '../engine/project/circuit.ts';

export function circuitToWire(c: ProjectCircuit): CircuitResult {
  const w: CircuitResult = {
    graph: { ...c.graph },
    eap: c.eap,
    circuit: Float32Array.from(c.circuit),
    faithfulness: c.faithfulness.map((p) => ({ ...p })),
    request: { ...c.request },
    metric: { ...c.metric },
    provenance: { ...c.provenance },
  };
  if (c.eapIg) w.eapIg = c.eapIg;
  return w;
}

/** A `patchbench circuit --out` file's text, checked, in the contract's form. */
export function parseCircuitFile(text: string, source: string): CircuitResult {
  const l = parseCircuitJson(text, source);
  const w: CircuitResult = { graph: { ...l.graph.shape }, eap: l.eap, circuit: Float32Array.from(l.circuit), faithfulness: l.faithfulness, source };
  if (l.eapIg) w.eapIg = l.eapIg;
  return w;
}

/**
 * The project file's form, when the circuit says how it was computed (a read-in JSON file does
 * not). `provenance` kept from an opened project wins over the one the circuit carries.
 */
export function circuitFromWire(w: CircuitResult, kept: Provenance | null | undefined): ProjectCircuit | undefined {
  const provenance = kept ?? w.provenance;
  if (!w.request || !w.metric || !provenance) return undefined;
  return {
    request: { ...w.request },
    graph: { ...w.graph },
    metric: { ...w.metric },
    provenance: { ...provenance },
    eap: w.eap,
    eapIg: w.eapIg,
    circuit: Uint8Array.from(w.circuit),
    faithfulness: w.faithfulness.map((p) => ({ ...p })),
  };
}
