/**
 * Who is making a request, as established from its access token. The HTTP layer keeps it in
 * `res.locals.principal`; everything that authorizes or audits an access reads it from there.
 */
export interface Principal {
  /** The SMART client the token was issued to (or the `sub`/`client_id` of an outside token). */
  clientId: string;
  /** The end user on whose behalf the client acts, when the token names one. */
  user?: string;
  /** The granted scopes, as the token carries them. */
  scopes: string[];
  /** The patient the token is bound to (launch context), as a bare id. */
  patient?: string;
  /** Purpose of use codes the token carries (e.g. TREAT), for the audit trail. */
  purposeOfUse?: string[];
  /** The token's `jti`, when it has one. */
  tokenId?: string;
}
