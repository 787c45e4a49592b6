/**
 * Redis Cluster key-slot computation (CRC16-XMODEM of the hash tag, modulo 16384), as specified in
 * the Redis Cluster specification. The writer and reader group commands by the node that owns each
 * slot so that one pipeline goes to one node; computing the slot here keeps that grouping independent
 * of ioredis internals.
 */

/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

const crcTable = buildCrcTable();

function buildCrcTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[byte] = crc;
  }
  return table;
}

/** CRC16-XMODEM (polynomial 0x1021, initial value 0) of the given bytes. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc = ((crc << 8) ^ (crcTable[((crc >> 8) ^ byte) & 0xff] ?? 0)) & 0xffff;
  }
  return crc;
}

/**
 * The part of a key that Redis Cluster hashes: the text between the first `{` and the next `}` when
 * that text is non-empty, otherwise the whole key.
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** The cluster slot (0..16383) of a key. */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTagOf(key), "utf8")) % CLUSTER_SLOTS;
}
