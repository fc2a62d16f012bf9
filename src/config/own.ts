/**
 * @module config/own — safe own-property writes: YAML keys are user input, and `__proto__` written
 * with `obj[key] = v` would replace the prototype instead of adding a key.
 */
export function putOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
