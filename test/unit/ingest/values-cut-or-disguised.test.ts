/**
 * Values that used to pass Tally's checks and then did harm: a lone surrogate (ClickHouse refused
 * the whole insert for it, so the data source stopped), years before 100 (read as 19xx), a
 * DateTime64 number read through a double, a Decimal's digits taken from another member, a
 * refusal that repeated a number of millions of digits, and Kafka values that are not UTF-8.
 */
import { describe, expect, it } from 'vitest';
import { compileType, Refusal } from '../../../src/ingest/coerce-value.ts';
import { parseDateDays, parseDateTimeText, utcMillis } from '../../../src/ingest/date-time-text.ts';
import { classifyFailure } from '../../../src/ingest/insert-failure.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import { parseJsonExact } from '../../../src/util/exact-json.ts';
import { firstInvalidUtf8 } from '../../../src/util/utf8-offset.ts';
import { dataSource, typeNode } from './type-node.ts';

/** The insert text of a JSON value (read as JSON.parse reads it), or `refused: <message>`. */
function c(type: string, json: string): string {
  const r = compileType(typeNode(type)).coerce(JSON.parse(json));
  return r instanceof Refusal ? `refused: ${r.message}` : r;
}

describe('strings with a lone UTF-16 surrogate', () => {
  it('are refused with the character where the text was cut, in every string type', () => {
    expect(c('String', '"cut mid-emoji \\ud83d"')).toBe(
      'refused: not valid Unicode: a lone surrogate \\ud83d at character 15 (text cut inside a character?)',
    );
    expect(c('String', '"\\udc00 low first"')).toMatch(/^refused: .*lone surrogate \\udc00 at character 1 /);
    expect(c('FixedString(8)', '"ab\\ud800"')).toMatch(/lone surrogate \\ud800 at character 3/);
    expect(c('Array(String)', '["ok", "x\\ud83d"]')).toMatch(/^refused: element 2: .*lone surrogate/);
    expect(c('Nullable(String)', '"\\ud83d"')).toMatch(/lone surrogate/);
    expect(c('LowCardinality(String)', '"\\ud83d"')).toMatch(/lone surrogate/);
    expect(c('Map(String, UInt8)', '{"\\ud83d": 1}')).toMatch(/lone surrogate/);
  });

  it('a whole character (a surrogate pair) and other escapes still pass, written as JSON text', () => {
    expect(c('String', '"smile \\ud83d\\ude00"')).toBe(JSON.stringify('smile 😀'));
    expect(c('String', '"tab\\tquote\\""')).toBe('"tab\\tquote\\""');
    // The text of an escape, not the character: nothing to refuse.
    expect(c('String', '"\\\\ud83d"')).toBe('"\\\\ud83d"');
  });

  it('a row with one is quarantined naming the column, and its key is never looked up', () => {
    const ds = dataSource(
      'd',
      [
        { name: 'id', type: 'String' },
        { name: 'text', type: 'String' },
      ],
      {
        dedupKey: ['id'],
      },
    );
    expect(compileRowParser(ds).parseLine('{"id":"\\ud83d","text":"a"}')).toEqual({
      ok: false,
      problems: [
        {
          column: 'id',
          message:
            'not valid Unicode: a lone surrogate \\ud83d at character 1 (text cut inside a character?)',
        },
      ],
    });
  });

  it('ClickHouse refusing an escape sequence (code 25) is a bad row, not a server error to retry', () => {
    const refused = new Error(
      'Code: 25. DB::Exception: Cannot parse escape sequence: missing second part of surrogate pair',
    );
    expect(classifyFailure(refused)).toBe('data');
    for (const code of [130, 349, 376, 441, 675, 676]) {
      expect(classifyFailure(new Error(`Code: ${code}. DB::Exception: Cannot parse`))).toBe('data');
    }
    expect(classifyFailure(new Error('Code: 252. DB::Exception: Too many parts'))).toBe('server');
  });
});

describe('years before 100', () => {
  it('utcMillis counts them as they are, where Date.UTC reads 19xx', () => {
    expect(Date.UTC(99, 11, 31)).toBe(Date.UTC(1999, 11, 31));
    expect(utcMillis(99, 11, 31)).toBe(new Date('0099-12-31T00:00:00Z').getTime());
    expect(utcMillis(0, 0, 1, 12)).toBe(new Date('0000-01-01T12:00:00Z').getTime());
    expect(utcMillis(2024, 1, 29, 1, 2, 3)).toBe(Date.UTC(2024, 1, 29, 1, 2, 3));
  });

  it('are out of range for DateTime, DateTime64, Date and Date32, not stored as 1970 - 1999', () => {
    expect(parseDateTimeText('0099-12-31T23:59:59Z', undefined)).toEqual({ ok: false, reason: 'range' });
    expect(c('DateTime', '"0070-01-01 00:00:00"')).toMatch(/^refused: .* is out of range for DateTime/);
    expect(c('DateTime64(3)', '"0070-01-01 00:00:00.5"')).toMatch(/out of range for DateTime64\(3\)/);
    expect(parseDateDays('0070-01-01')).toBe(new Date('0070-01-01T00:00:00Z').getTime() / 86_400_000);
    expect(c('Date', '"0070-01-01"')).toMatch(/^refused: string "0070-01-01" is out of range for Date /);
    expect(c('Date32', '"0050-06-01"')).toMatch(/out of range for Date32/);
    expect(c('Date32', '"1950-06-01"')).toBe('"1950-06-01"');
  });
});

describe('DateTime64 from a JSON number keeps the digits as sent', () => {
  const ds = dataSource('d', [
    { name: 'at', type: 'DateTime64(9)' },
    { name: 'ms', type: 'DateTime64(3)' },
  ]);
  const parser = compileRowParser(ds);

  it('nanoseconds of a current epoch survive (a double keeps about 7 fraction digits)', () => {
    expect(parser.parseLine('{"at":1546300800.123456789,"ms":1546300800.5}')).toEqual({
      ok: true,
      line: '{"at":"1546300800.123456789","ms":"1546300800.500"}',
    });
  });

  it('a fraction finer than the precision is refused as sent, not rounded through the double', () => {
    const r = parser.parse('{"at":1546300800.1234567891,"ms":1546300800.12300000001}');
    expect(r).toEqual({
      ok: false,
      problems: [
        { column: 'at', message: 'DateTime64(9) keeps 9 digits after the second, got 1546300800.1234567891' },
        {
          column: 'ms',
          message: 'DateTime64(3) keeps 3 digits after the second, got 1546300800.12300000001',
        },
      ],
    });
  });

  it('an exponent is read as the number it writes', () => {
    expect(parser.parseLine('{"at":1.5463008e9,"ms":1546300800123}')).toEqual({
      ok: true,
      line: '{"at":"1546300800.000000000","ms":"1546300800.123"}',
    });
  });
});

describe("a Decimal's exact digits come from its own member", () => {
  const ds = dataSource('d', [{ name: 'amount', type: 'Decimal(38, 20)', json: '$.data.amount' }]);
  const parser = compileRowParser(ds);

  it('with spaces around the colon', () => {
    expect(parser.parseLine('{"data":{"amount" : 0.10000000000000001}}')).toEqual({
      ok: true,
      line: '{"amount":0.10000000000000001}',
    });
  });

  it('not from another member of the same name whose double is equal', () => {
    expect(parser.parseLine('{"fee":{"amount":0.1},"data":{"amount" : 0.10000000000000001}}')).toEqual({
      ok: true,
      line: '{"amount":0.10000000000000001}',
    });
  });

  it('not when the key is spelled with an escape and another member has it plainly', () => {
    expect(parser.parseLine('{"fee":{"amount":0.1},"data":{"am\\u006funt":0.10000000000000001}}')).toEqual({
      ok: true,
      line: '{"amount":0.10000000000000001}',
    });
    expect(parser.parseLine('{"data":{"am\\u006funt":0.10000000000000001},"fee":{"amount":0.1}}')).toEqual({
      ok: true,
      line: '{"amount":0.10000000000000001}',
    });
  });

  it('nor from a string value that reads like the key', () => {
    expect(parser.parseLine('{"note":"amount","data":{"amount":1.25}}')).toEqual({
      ok: true,
      line: '{"amount":1.25}',
    });
  });
});

describe('a refused number of millions of digits', () => {
  it('is named by its first 40 characters and its length, not repeated whole', () => {
    const huge = `1${'0'.repeat(2_000_000)}`;
    for (const type of ['Int64', 'Decimal(18, 2)', 'Float64', 'DateTime', 'DateTime64(3)', 'UInt8']) {
      const r = compileType(typeNode(type)).coerce(parseJsonExact(huge));
      expect(r, type).toBeInstanceOf(Refusal);
      const message = (r as Refusal).message;
      expect(message.length, type).toBeLessThan(300);
      expect(message, type).toContain(`${'1'.padEnd(40, '0')}... (2000001 characters)`);
    }
  });
});

describe('firstInvalidUtf8', () => {
  const bytes = (...b: number[]) => Uint8Array.from(b);
  it('is -1 for UTF-8 of every length, and the first bad byte otherwise', () => {
    expect(firstInvalidUtf8(Buffer.from('café 😀 ü €'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x63, 0x61, 0x66, 0xe9]))).toBe(3); // Latin-1 é
    expect(firstInvalidUtf8(bytes(0x61, 0xc0, 0x80))).toBe(1); // overlong
    expect(firstInvalidUtf8(bytes(0xed, 0xa0, 0x80))).toBe(0); // an encoded surrogate (CESU)
    expect(firstInvalidUtf8(bytes(0xf4, 0x90, 0x80, 0x80))).toBe(0); // past U+10FFFF
    expect(firstInvalidUtf8(bytes(0xe2, 0x82))).toBe(0); // cut short
    expect(firstInvalidUtf8(bytes(0xe2, 0x82, 0x41))).toBe(0); // a continuation missing
    expect(firstInvalidUtf8(bytes(0x80))).toBe(0); // a continuation alone
  });
  it('agrees with node on random bytes', () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(Array.from({ length: 1 + (next() % 12) }, () => next() % 256));
      const decodes = (() => {
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(b);
          return true;
        } catch {
          return false;
        }
      })();
      expect(firstInvalidUtf8(b) === -1, b.toString('hex')).toBe(decodes);
    }
  });
});
