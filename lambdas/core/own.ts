/**
 * The value a record holds under `key` as its own property, or `undefined`. Every lookup by a key that a person,
 * a plan or a payload supplies goes through here: `record[key]` would find `constructor`, `toString` or
 * `__proto__` on `Object.prototype` and hand back a function or an object the record never held.
 */
export function ownValue<V>(record: Readonly<Record<string, V>> | undefined, key: string): V | undefined {
  return record !== undefined && Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}
