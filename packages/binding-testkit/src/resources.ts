import assert from 'node:assert/strict';
import { MAX_RESOURCE_LENGTH, MAX_RESOURCES } from '@portcullis/core';
import { rid } from './shared.js';

/**
 * Helpers of the RFC 8707 checks (`GrantRecord.resources`, `AccessTokenRecord.audience`,
 * `RefreshTokenRecord.resources`): sample resource lists and the assertions every suite shares.
 */

/**
 * Three resource URIs, each unique to this call (so a probe can find them in a raw entry), in an
 * order that is not sorted: stores must keep the order they were given.
 */
export function sampleResources(): string[] {
  const salt = rid('r');
  return [`https://reports.example/v2/${salt}?tenant=a%20b`, `https://api.example/${salt}/`, `urn:example:resource:${salt}`];
}

/** The most core accepts: `MAX_RESOURCES` values of `MAX_RESOURCE_LENGTH` characters each, all distinct. */
export function largestResources(): string[] {
  const salt = rid('r');
  return Array.from({ length: MAX_RESOURCES }, (_, i) => {
    const head = `https://api${i}.example/${salt}/`;
    return `${head}${'p'.repeat(MAX_RESOURCE_LENGTH - head.length - 1)}${i}`;
  });
}

/**
 * Asserts that a list field (`resources` or `audience`) came back as saved: the same strings in
 * the same order when `expected` is set, and absent (`undefined`: not `[]`, not `null`) when the
 * saved record had none, as core's memory store gives it back.
 */
export function assertList(actual: unknown, expected: readonly string[] | undefined, field: string, what: string): void {
  if (expected === undefined) {
    assert.strictEqual(
      actual,
      undefined,
      `${what}: ${field} was not saved, so it must come back absent (not [] or null), got ${JSON.stringify(actual)}`,
    );
    return;
  }
  assert.ok(Array.isArray(actual), `${what}: ${field} must come back as an array, got ${show(actual)}`);
  assert.deepEqual(
    [...actual],
    [...expected],
    `${what}: ${field} must round-trip, the same values in the same order (saved ${expected.length}, got ${actual.length})`,
  );
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * The raw entry a probe returned as searchable text: strings as they are, bytes as UTF-8, any
 * other value as JSON (bytes inside it decoded too). Used to see that the store wrote a value
 * where it keeps the record, not only in a process cache.
 */
export function rawText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (raw instanceof Uint8Array) return Buffer.from(raw).toString('utf8');
  try {
    return (
      JSON.stringify(raw, (_key, value: unknown) => {
        if (typeof value === 'bigint') return value.toString();
        if (
          value &&
          typeof value === 'object' &&
          (value as { type?: unknown }).type === 'Buffer' &&
          Array.isArray((value as { data?: unknown }).data)
        ) {
          return Buffer.from((value as { data: number[] }).data).toString('utf8');
        }
        return value;
      }) ?? String(raw)
    );
  } catch {
    return String(raw);
  }
}

/** Asserts that the raw entry holds each of `values` (`present`) or none of them. */
export function assertRawHolds(raw: unknown, values: readonly string[], present: boolean, what: string): void {
  const text = rawText(raw);
  for (const v of values) {
    if (present) assert.ok(text.includes(v), `${what}: the raw entry must hold ${show(v)}`);
    else assert.ok(!text.includes(v), `${what}: the raw entry must not hold ${show(v)}`);
  }
}
