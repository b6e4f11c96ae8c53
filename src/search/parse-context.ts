import { badRequest } from '../errors.js';
import type { SearchParamDef } from './types.js';

/** Finds a type's search parameter by code (the real one is `searchParameter` in parameters.ts). */
export type ParamLookup = (type: string, code: string) => SearchParamDef | undefined;

/** Finds a type's search parameter by canonical URL (`searchParameterByUrl` in parameters.ts). */
export type ParamUrlLookup = (type: string, url: string) => SearchParamDef | undefined;

/** What parsing needs to know about the server: its parameters, its types, its base, the time. */
export interface ParseContext {
  lookup: ParamLookup;
  lookupByUrl?: ParamUrlLookup;
  /** True for a resource type this server knows. */
  isType(type: string): boolean;
  /** This server's base URL without a trailing slash, when known. */
  baseUrl?: string;
  /** Epoch ms taken as "now" (for `ap` on dates). */
  now: number;
}

/** The definitions of `code` on every one of `types`; undefined when any type lacks it. */
export function defsOnAll(ctx: ParseContext, types: string[], code: string): SearchParamDef[] | undefined {
  const defs = types.map((type) => ctx.lookup(type, code));
  return defs.length > 0 && defs.every((d) => d !== undefined) ? defs : undefined;
}

/** The definitions of `code` on those of `types` that have it (chains: R4 search.html#chaining). */
export function defsOnAny(ctx: ParseContext, types: string[], code: string): SearchParamDef[] {
  return types.map((type) => ctx.lookup(type, code)).filter((d) => d !== undefined);
}

/** The one definition that stands for several types: 400 when their types disagree. */
export function representative(defs: SearchParamDef[], name: string): SearchParamDef {
  const [first, ...rest] = defs;
  if (first === undefined) throw new Error('representative() needs at least one definition');
  const other = rest.find((d) => d.type !== first.type);
  if (other !== undefined) {
    throw badRequest(
      `${first.code} is a ${first.type} parameter on ${first.base} but a ${other.type} parameter on ` +
        `${other.base}; search one resource type at a time`,
      name,
    );
  }
  return first;
}

/** The distinct reference targets of a set of definitions, in order. */
export function targetsOf(defs: SearchParamDef[]): string[] {
  return [...new Set(defs.flatMap((d) => d.target ?? []))];
}

/**
 * A composite's component definitions, each looked up by its canonical URL. Without a URL lookup,
 * the code is guessed from the URL's tail (`…/Observation-value-quantity` → `value-quantity`,
 * `…/clinical-code` → `code`) and accepted only when the definition found carries that exact URL —
 * which holds for every R4 composite.
 */
export function componentDefs(ctx: ParseContext, def: SearchParamDef, name: string): SearchParamDef[] {
  return (def.components ?? []).map(({ definition }) => {
    const found = ctx.lookupByUrl?.(def.base, definition) ?? guessByUrl(ctx, def.base, definition);
    if (found === undefined) {
      throw badRequest(
        `${def.code} cannot be searched: its component ${definition} is not a parameter of ${def.base}`,
        name,
      );
    }
    return found;
  });
}

function guessByUrl(ctx: ParseContext, base: string, url: string): SearchParamDef | undefined {
  const words = (url.split('/').pop() ?? '').split('-');
  for (let i = 0; i < words.length; i++) {
    const found = ctx.lookup(base, words.slice(i).join('-'));
    if (found?.url === url) return found;
  }
  return undefined;
}
