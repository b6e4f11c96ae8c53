import { validateResource } from '../src/validation/validate-resource.js';
import { generateResources } from './generate.js';

/** The generated mix: per resource type, how many and their average serialised size. */
export interface GeneratorRun {
  resources: number;
  perSecond: number;
  validated: number;
  invalid: number;
  types: { type: string; count: number; avgBytes: number }[];
}

/**
 * Generates `count` resources (timed, with serialisation) and validates every `validateEvery`-th
 * with the server's own validator: generated data that the server would refuse is a bench bug.
 */
export function runGeneratorBench(seed: number, count: number, validateEvery = 10): GeneratorRun {
  const types = new Map<string, { count: number; bytes: number }>();
  let validated = 0;
  let invalid = 0;
  let elapsed = 0;
  let i = 0;
  const iterator = generateResources(seed, 0, count);
  for (;;) {
    const t0 = performance.now();
    const next = iterator.next();
    if (next.done) break;
    const bytes = JSON.stringify(next.value).length;
    elapsed += performance.now() - t0;
    const entry = types.get(next.value.resourceType) ?? { count: 0, bytes: 0 };
    types.set(next.value.resourceType, { count: entry.count + 1, bytes: entry.bytes + bytes });
    if (i++ % validateEvery === 0) {
      validated++;
      const issues = validateResource(next.value);
      if (issues.length > 0 && invalid++ === 0) {
        console.error(`invalid ${next.value.resourceType}: ${JSON.stringify(issues).slice(0, 500)}`);
      }
    }
  }
  return {
    resources: count,
    perSecond: count / (elapsed / 1000),
    validated,
    invalid,
    types: [...types].map(([type, t]) => ({ type, count: t.count, avgBytes: t.bytes / t.count })),
  };
}
