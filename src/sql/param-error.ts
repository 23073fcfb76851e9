import { TallyError } from '../errors.ts';

/**
 * A request's param value does not fit the param's declared type (or is missing). The server
 * answers it with a 400 naming the param and the expected form; it never reaches SQL.
 */
export class ParamError extends TallyError {
  /** The param's name. */
  readonly param: string;
  /** What a valid value looks like, e.g. `Int32 between -2147483648 and 2147483647`. */
  readonly expected: string;

  constructor(code: 'invalid-param' | 'missing-param', param: string, expected: string, message: string) {
    super(code, message);
    this.name = 'ParamError';
    this.param = param;
    this.expected = expected;
  }
}

export function isParamError(e: unknown): e is ParamError {
  return e instanceof ParamError;
}
