/**
 * `T` with its `readonly` modifiers removed: for building a record field by field (optional fields
 * left out rather than set to `undefined`) before handing it out as the readonly `T`. Internal.
 */
export type Writable<T> = { -readonly [K in keyof T]: T[K] };
