/** Float64s stored as blobs (little-endian): series points, route statistics, outlook curves. */

/** Packed Float64s as a Buffer over the same memory (no copy: keep it only while `values` is not changed). */
export function packFloats(values: Float64Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** A Float64Array over a stored blob, copied only when the blob is not 8-byte aligned. */
export function unpackFloats(blob: Buffer): Float64Array {
  if (blob.byteOffset % 8 === 0) return new Float64Array(blob.buffer, blob.byteOffset, blob.byteLength / 8);
  return new Float64Array(Uint8Array.from(blob).buffer);
}
