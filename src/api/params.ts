// Path parameters the routes read the same way.
import { InvalidInputError } from '../core/errors.js';

/** A release named in a path, `vN` or `N`; otherwise InvalidInputError with `message`. */
export function releaseVersion(raw: string, message = 'release must be written vN or N, e.g. v3'): number {
  const v = Number(raw.replace(/^v/, ''));
  if (!Number.isInteger(v) || v < 1) throw new InvalidInputError(message);
  return v;
}
