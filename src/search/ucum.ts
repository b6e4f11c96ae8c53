import { createRequire } from 'node:module';

/** The part of @lhncbc/ucum-lhc's API used here (the package ships no type declarations). */
interface UcumUtils {
  convertToBaseUnits(
    unit: string,
    value: number,
  ): { status: string; magnitude?: number; unitToExp?: Record<string, number>; fromUnitIsSpecial?: boolean };
}

export const ucumSystem = 'http://unitsofmeasure.org';

/** A UCUM unit in base units: a scale factor, or (Cel, [degF]…) a function applied per value. */
type Conversion = { code: string; factor: number } | { code: string; special: true };

const require = createRequire(import.meta.url);
let utils: UcumUtils | undefined;
const conversions = new Map<string, Conversion | null>();

/** A value in UCUM base units, with the base units written as a code (`g.m-3`, `s-1`, `1`). */
export interface CanonicalQuantity {
  value: number;
  low: number;
  high: number;
  code: string;
}

/**
 * The UCUM canonical form of a quantity (R4 search.html#quantity: servers may compare quantities
 * in canonical units), so `100 mg/dL` and `1 g/L` index the same `1000 g.m-3`. Undefined when the
 * code is not a convertible UCUM unit (invalid, or arbitrary like `[IU]`). Conversions are cached
 * per unit code.
 */
export function ucumCanonical(
  code: string,
  value: number,
  low: number,
  high: number,
): CanonicalQuantity | undefined {
  let conversion = conversions.get(code);
  if (conversion === undefined) {
    conversion = convert(code);
    conversions.set(code, conversion);
  }
  if (conversion === null) return undefined;
  let canonical: CanonicalQuantity;
  if ('factor' in conversion) {
    const f = conversion.factor;
    canonical = {
      value: round(value * f),
      low: round(low * f),
      high: round(high * f),
      code: conversion.code,
    };
  } else {
    const base = (v: number): number => round(ucum().convertToBaseUnits(code, v).magnitude ?? Number.NaN);
    canonical = { value: base(value), low: base(low), high: base(high), code: conversion.code };
  }
  if (!Number.isFinite(canonical.value)) return undefined;
  // rounding to 12 digits must not empty the range around a very precise value
  canonical.low = Math.min(canonical.low, canonical.value);
  if (!(canonical.high > canonical.value)) {
    canonical.high = canonical.value + Math.max(Math.abs(canonical.value) * Number.EPSILON, Number.MIN_VALUE);
  }
  return canonical;
}

function convert(code: string): Conversion | null {
  // Annotated units ({score}, mL/min/{1.73_m2}) are dimensionless to UCUM, which would make a
  // score comparable with a percentage; compare them by their code instead.
  if (code.includes('{')) return null;
  let result;
  try {
    result = ucum().convertToBaseUnits(code, 1);
  } catch {
    return null;
  }
  if (result.status !== 'succeeded' || result.magnitude === undefined) return null;
  const units = Object.entries(result.unitToExp ?? {})
    .filter(([, exp]) => exp !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([unit, exp]) => (exp === 1 ? unit : `${unit}${exp}`));
  const canonicalCode = units.length > 0 ? units.join('.') : '1';
  if (result.fromUnitIsSpecial === true) return { code: canonicalCode, special: true };
  return { code: canonicalCode, factor: result.magnitude };
}

function ucum(): UcumUtils {
  utils ??= (
    require('@lhncbc/ucum-lhc') as { UcumLhcUtils: { getInstance(): UcumUtils } }
  ).UcumLhcUtils.getInstance();
  return utils;
}

/** Twelve significant digits: drops the float noise of unit factors (10.000000000000002). */
function round(n: number): number {
  return Number.isFinite(n) && n !== 0 ? Number(n.toPrecision(12)) : n;
}
