import { describe, expect, it } from 'vitest';
import { trailingException } from '../../../src/clickhouse/http-reader.ts';

const OLD =
  "Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero, e.what() = DB::Exception";
const NEW =
  "Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero: while executing 'FUNCTION throwIf(...)'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 24.3.1.1 (official build))";

describe('trailingException', () => {
  it('finds the exception 18.16 glues to the last row, in JSON, JSONEachRow and CSV', () => {
    expect(trailingException(`{\n\t"data": [\n\t\t{"n": 1}${OLD}\n`)).toBe(OLD);
    expect(trailingException(`{"n":"1"}\n{"n":"2"}\n${OLD}\n`)).toBe(OLD);
    expect(trailingException(`n\n1\n2\n${OLD}\n`)).toBe(OLD);
  });

  it("finds a current server's, ending with its version", () => {
    expect(trailingException(`{"n":"1"}\n${NEW}\n`)).toBe(NEW);
  });

  it('takes a row that holds an error message for data', () => {
    const stored = JSON.stringify({ id: 'd1', error: `step failed: ${OLD}\n  hint: try it` });
    expect(trailingException(`${stored}\n`)).toBeUndefined();
    expect(trailingException(`{"error":${JSON.stringify(OLD)}}\n`)).toBeUndefined();
    expect(trailingException(`id,error\n1,"${OLD}"\n`)).toBeUndefined();
    expect(trailingException('{\n\t"rows": 1,\n\t"statistics": {}\n}\n')).toBeUndefined();
    expect(trailingException('')).toBeUndefined();
  });
});
