import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/project/model.ts';
import { limitSettings } from '../../../src/server/run-endpoint.ts';

const endpoint = (maxExecutionTime?: number) =>
  ({
    settings: {},
    limits: maxExecutionTime === undefined ? {} : { maxExecutionTime },
  }) as unknown as Endpoint;

describe('limitSettings', () => {
  it('sends max_execution_time in whole seconds, rounded up (18.16 reads 0.5 as no limit)', () => {
    expect(limitSettings(endpoint(0.5)).max_execution_time).toBe(1);
    expect(limitSettings(endpoint(1.5)).max_execution_time).toBe(2);
    expect(limitSettings(endpoint(3)).max_execution_time).toBe(3);
    expect(limitSettings(endpoint()).max_execution_time).toBe(10);
  });
});
