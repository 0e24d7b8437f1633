/**
 * Marks `key` as the most recently used entry of an insertion-ordered Map used as an LRU:
 * re-inserted, so it moves to the end, and the Map's first key stays the least recently used.
 */
export function touch<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
}
