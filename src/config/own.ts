/**
 * @module config/own — safe own-property writes: YAML keys are user input, and `__proto__` written
 * with `obj[key] = v` would replace the prototype instead of adding a key.
 */
export function putOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  // `__proto__` is the one accessor Object.prototype has; every other key is an own data property
  // either way, and a plain write keeps the object's fast shape (a plan resolves every property of
  // every resource through here).
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
