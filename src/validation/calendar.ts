/**
 * True when the date part of a FHIR date, dateTime or instant names a real day ("Dates SHALL be
 * valid dates", R4 datatypes.html#date). The schema's pattern already checked the form. This
 * function is serialised into the generated validators, so it must stay self-contained.
 */
export function isValidCalendarDate(value: string): boolean {
  if (value.length < 10) return true;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  // a month outside 1-12 or a malformed day is the pattern's to report, not this check's
  return days === undefined || !(day >= 1) || day <= days;
}
