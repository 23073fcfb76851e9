import { describe, expect, it } from 'vitest';
import { newClusterId, renderServerProperties } from './kafka-config.ts';

describe('Kafka config', () => {
  it('makes 22-character cluster ids of 16 bytes that do not look like a flag', () => {
    for (let i = 0; i < 200; i++) {
      const id = newClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });

  it('renders a single-node KRaft config on loopback', () => {
    const text = renderServerProperties(
      { bindHost: '127.0.0.1', advertisedHost: 'localhost', port: 19092, controllerPort: 19093 },
      '/data',
    );
    expect(text).toContain('listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n');
    expect(text).toContain('advertised.listeners=PLAINTEXT://localhost:19092\n');
    expect(text).toContain('controller.quorum.bootstrap.servers=127.0.0.1:19093\n');
    expect(text).toContain('log.dirs=/data\n');
    expect(text).toContain('offsets.topic.replication.factor=1\n');
  });
});
