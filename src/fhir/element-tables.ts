import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedDir } from './definitions-path.js';

/** Element facts of the R4 resource types, generated at build time from the official definitions. */
export interface ElementTables {
  resourceTypes: string[];
  choices: Record<string, { base: string; names: string[] }[]>;
  summary: Record<string, string[]>;
  mandatory: Record<string, string[]>;
  required: Record<string, { base: string; names: string[] }[]>;
}

let tables: ElementTables | undefined;

/** Loads the generated element tables once; a missing build is a clear start-up error. */
export function elementTables(): ElementTables {
  if (!tables) {
    const path = join(generatedDir, 'element-tables.json');
    try {
      tables = JSON.parse(readFileSync(path, 'utf8')) as ElementTables;
    } catch {
      throw new Error(`${path} is missing: run "npm run build" (npm ci runs it)`);
    }
  }
  return tables;
}

/**
 * Resource types that have a REST endpoint. Parameters is a resource with no endpoint of its own
 * (R4 parameters.html: "it has no RESTful endpoint"), so it is left out.
 */
let restTypes: Set<string> | undefined;
export function isRestResourceType(type: string): boolean {
  restTypes ??= new Set(elementTables().resourceTypes.filter((t) => t !== 'Parameters'));
  return restTypes.has(type);
}

/** Every R4 resource type with a REST endpoint, sorted. */
export function restResourceTypes(): string[] {
  return elementTables().resourceTypes.filter((t) => t !== 'Parameters');
}
