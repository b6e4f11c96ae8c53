/**
 * Turns a JSON pointer into a FHIRPath-style element location: `/name/0/given/1` under `Patient`
 * becomes `Patient.name[0].given[1]` (the form OperationOutcome.issue.expression uses).
 */
export function pointerToExpression(pointer: string, root: string): string {
  let out = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  }
  return out;
}
