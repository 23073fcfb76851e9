/**
 * The compression codecs kafkajs lacks: it reads gzip only, and stops a consumer on a batch in
 * snappy, lz4 or zstd ("... compression not implemented"), which producers choose often and a
 * broker applies to every batch of a topic with `compression.type` set. Pure-JavaScript
 * libraries (no native build): kafkajs-snappy (kafkajs's own codec, over snappyjs; it reads the
 * xerial framing Java producers write), lz4js (LZ4 frames) and fzstd (zstd frames).
 *
 * Reading is what Tally needs; its own producer sends uncompressed batches, so compressing with
 * lz4 or zstd is refused rather than half-supported.
 */
import { createRequire } from 'node:module';
import type { CompressionTypes as Types } from 'kafkajs';

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const require = createRequire(import.meta.url);

/**
 * Registers the three codecs on kafkajs (idempotent). Through `require`: kafkajs is CommonJS,
 * and its `CompressionCodecs` is not among the names an ESM import sees (only on `default`).
 */
export function registerKafkaCodecs(): void {
  const { CompressionTypes, CompressionCodecs } = require('kafkajs') as {
    CompressionTypes: typeof Types;
    CompressionCodecs: Record<number, () => Codec>;
  };
  const snappy = require('kafkajs-snappy') as () => Codec;
  const lz4 = require('lz4js') as { decompress(src: Uint8Array): Uint8Array | number[] };
  const zstd = require('fzstd') as { decompress(src: Uint8Array): Uint8Array };
  CompressionCodecs[CompressionTypes.Snappy] = snappy;
  CompressionCodecs[CompressionTypes.LZ4] = () =>
    readOnly('lz4', async (buffer) => {
      const out = lz4.decompress(buffer);
      return out instanceof Uint8Array
        ? Buffer.from(out.buffer, out.byteOffset, out.byteLength)
        : Buffer.from(out);
    });
  CompressionCodecs[CompressionTypes.ZSTD] = () =>
    readOnly('zstd', async (buffer) => {
      const out = zstd.decompress(buffer);
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    });
}

function readOnly(name: string, decompress: (buffer: Buffer) => Promise<Buffer>): Codec {
  return {
    decompress,
    compress: () =>
      Promise.reject(new Error(`Tally reads ${name}-compressed Kafka batches but does not write them`)),
  };
}
