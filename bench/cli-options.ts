/** Option parsers the benches share (commander), each naming the option it refuses. */
import { InvalidArgumentError } from 'commander';

/** A whole number of at least 1, for `name`. */
export function positiveInt(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${text}"`);
    return n;
  };
}
