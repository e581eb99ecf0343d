/**
 * User codes of the device authorization grant (RFC 8628 section 6.1): drawn, normalized, shown;
 * and the provider-wide limit on failed user code lookups.
 */
import { randomInt } from 'node:crypto';

/** The device_code grant type (RFC 8628 section 3.4). */
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** 20 consonants: no vowels (no words form), no digits, nothing that looks like another character. */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** Letters in a user code: 20^8, about 2^34.6 codes. */
export const USER_CODE_LENGTH = 8;
/** Longest input `normalizeUserCode` looks at; anything longer is refused unread. */
const MAX_INPUT = 32;
const NORMALIZED = /^[BCDFGHJKLMNPQRSTVWXZ]{8}$/;

/** A new user code, normalized (8 letters of the alphabet, drawn uniformly with a CSPRNG). */
export function newUserCode(): string {
  let s = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return s;
}

/**
 * The stored form of what a user typed: case, dashes and spaces ignored. `null` when it cannot be
 * a user code (too long, wrong length, a character outside the alphabet), without a store call.
 */
export function normalizeUserCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT) return null;
  const s = input.replace(/[-\s]/g, '').toUpperCase();
  return NORMALIZED.test(s) ? s : null;
}

/** A normalized user code as shown to the user: `BCDF-GHJK`. */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * Counts failed user code lookups in fixed windows, for one provider (one process): once `max`
 * failures happened in the current window, lookups are refused until it ends. Memory is two
 * numbers, whatever the traffic.
 */
export class LookupThrottle {
  private windowStart = 0;
  private failures = 0;
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `true` when lookups are refused right now. */
  blocked(): boolean {
    this.roll();
    return this.failures >= this.max;
  }

  /** Records one failed lookup. @returns `true` when this failure reached the limit. */
  fail(): boolean {
    this.roll();
    this.failures++;
    return this.failures === this.max;
  }

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.failures = 0;
    }
  }
}
