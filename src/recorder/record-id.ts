import { randomFillSync } from 'node:crypto';

/** Random bytes drawn in blocks: one syscall per few hundred ids, not one per id. */
const pool = Buffer.alloc(4096);
let used = pool.length;

function random(bytes: number): Buffer {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.subarray(used, used + bytes);
  used += bytes;
  return out;
}

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0');
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => hex(i, 2));

let lastMs = 0;
let counter = 0;

/**
 * A record id: a UUID version 7 (RFC 9562) — the milliseconds first, then a counter that keeps
 * ids of one millisecond in creation order, then random bits. Records are mostly inserted in
 * time order, so these ids land at the end of the stores' primary-key indexes instead of at
 * random places in them: a random UUID makes each insert touch pages all over the index, and
 * costs more the bigger the collection grows.
 */
export function recordId(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = random(2).readUInt16BE(0) & 0x1ff; // a random start leaves room to count up
  } else {
    ms = lastMs; // the clock stood still or went back: stay in order
    counter++;
    if (counter > 0xfff) {
      lastMs = ++ms; // 4 096 ids in one millisecond: borrow the next one
      counter = 0;
    }
  }
  const tail = random(8);
  const b = (i: number) => BYTE_HEX[tail[i] as number] as string;
  const time = hex(ms, 12);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(counter, 3)}-${BYTE_HEX[0x80 | ((tail[0] as number) & 0x3f)]}${b(1)}-${b(2)}${b(3)}${b(4)}${b(5)}${b(6)}${b(7)}`;
}
