// What a request that fails its route's schema (api/contract.ts) is answered: 400 invalid_input
// naming the route, the field and the reason. A value of the wrong type is refused, never
// coerced, and unknown body fields are refused, so a typo is not ignored.
import { InvalidInputError } from '../core/errors.js';

interface Issue {
  keyword: string;
  instancePath: string;
  message?: string;
  params?: { keys?: string[] };
}

/** The first issue of a failed validation, as `what: field: reason`. */
export function validationError(err: { validation: Issue[]; validationContext?: string }, what: string): InvalidInputError {
  const issue = err.validation[0];
  const path = issue.instancePath.replace(/^\//, '').split('/').filter(Boolean);
  const field = path.length ? path.join('.') : null;
  const where = err.validationContext === 'querystring' ? 'query ' : err.validationContext === 'params' ? 'path ' : '';
  const reason = issue.keyword === 'unrecognized_keys'
    ? `unknown field ${JSON.stringify(issue.params?.keys?.[0])}`
    : `${field ? `${where}${field}` : 'the body'}: ${issue.message ?? issue.keyword}`;
  return new InvalidInputError(`${what}: ${reason}`, { field, issue: issue.keyword, ...(err.validationContext ? { in: err.validationContext } : {}) });
}
