import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';

/** An issue as validators and services produce it, before it becomes part of an OperationOutcome. */
export type Issue = OperationOutcomeIssue;

/**
 * The one error type: an HTTP status with the OperationOutcome that explains it.
 * See R4 operationoutcome.html and http.html#summary for the statuses.
 */
export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
  ) {
    super(outcome.issue[0]?.diagnostics ?? `HTTP ${status}`);
    this.name = 'FhirError';
  }
}

/** Builds an OperationOutcome from issues. */
export function outcome(issues: Issue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** A single-issue OperationOutcome carrying information rather than an error. */
export function informational(text: string): OperationOutcome {
  return outcome([{ severity: 'information', code: 'informational', diagnostics: text }]);
}

function fail(status: number, code: Issue['code'], text: string, expression?: string): FhirError {
  const issue: Issue = { severity: 'error', code, diagnostics: text };
  if (expression !== undefined) issue.expression = [expression];
  return new FhirError(status, outcome([issue]));
}

/** 400: the request itself is malformed (syntax, unknown parameter, bad header). */
export const badRequest = (text: string, expression?: string): FhirError =>
  fail(400, 'invalid', text, expression);

/** 400 with issue code `structure` (e.g. JSON that does not parse). */
export const badStructure = (text: string, expression?: string): FhirError =>
  fail(400, 'structure', text, expression);

/** 422 (or another status) for a resource that breaks the rules: all issues at once. */
export const invalid = (issues: Issue[], status = 422): FhirError => new FhirError(status, outcome(issues));

export const notFound = (text: string): FhirError => fail(404, 'not-found', text);
export const gone = (text: string): FhirError => fail(410, 'deleted', text);
export const conflict = (text: string): FhirError => fail(409, 'conflict', text);
export const preconditionFailed = (text: string): FhirError => fail(412, 'conflict', text);
export const methodNotAllowed = (text: string): FhirError => fail(405, 'not-supported', text);
export const notSupported = (text: string, expression?: string): FhirError =>
  fail(400, 'not-supported', text, expression);
export const unsupportedMediaType = (text: string): FhirError => fail(415, 'not-supported', text);
export const tooLarge = (text: string): FhirError => fail(413, 'too-costly', text);
export const notAcceptable = (text: string): FhirError => fail(406, 'not-supported', text);
/** 500 with a generic text; the details belong in the log, never in the response. */
export const internal = (requestId: string): FhirError =>
  fail(500, 'exception', `Internal error; see the server log for request ${requestId}`);
