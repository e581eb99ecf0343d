/**
 * The app's verification page of the device authorization grant (RFC 8628 section 3.3): looking a
 * user code up for the consent page, and recording the user's decision. Every failed lookup counts
 * against the provider's `LookupThrottle`, so user codes cannot be guessed at speed.
 */
import type { Client, DeviceDecision, User } from '../contract.js';
import { DEVICE_GRANT, formatUserCode, type LookupThrottle, normalizeUserCode } from '../device-codes.js';
import { type Engine, findClient } from '../engine.js';
import { ConfigurationError } from '../errors.js';
import { checkedAuthTime } from '../grants/issue.js';
import { allows } from '../policy.js';

/** A pending device authorization request, for the consent page. */
export interface DeviceRequest<C extends Client = Client> {
  /** The client that asked (the device). */
  readonly client: C;
  /** The scopes it asked for. */
  readonly scopes: readonly string[];
  /** The user code as shown to the user (`BCDF-GHJK`). */
  readonly userCode: string;
  /** When the request expires. */
  readonly expiresAt: Date;
}

/** The user's answer on the verification page. */
export interface DeviceAuthorizationDecision {
  readonly approved: boolean;
  /** The user who decided; required when `approved`. */
  readonly userId?: string;
  /** Scopes granted, a subset of those requested; default: all requested. */
  readonly scopes?: readonly string[];
  /**
   * When the user last authenticated (logged in), if the application knows it: the device's JWT
   * access tokens, and those refreshed from them, carry it as `auth_time` (RFC 9068 section
   * 2.2.1). A valid `Date`, not in the future. Unset: no `auth_time`.
   */
  readonly authTime?: Date;
}

/** Looks a user code up; `null` when it is malformed, unknown, expired, decided, or lookups are throttled. */
export async function findDeviceRequest<U extends User, C extends Client>(
  e: Engine<U, C>,
  throttle: LookupThrottle,
  input: string,
): Promise<DeviceRequest<C> | null> {
  if (throttle.blocked()) return null;
  const userCode = normalizeUserCode(input);
  const record = userCode === null ? null : await e.s.devices!.findDeviceCode(userCode);
  if (record === null || record.status !== 'pending' || record.expiresAt.getTime() <= Date.now()) return failed(e, throttle);
  const client = await findClient(e, record.clientId);
  if (!client || !allows(e, client, DEVICE_GRANT)) return null;
  return { client, scopes: [...record.scopes], userCode: formatUserCode(record.userCode), expiresAt: new Date(record.expiresAt) };
}

/**
 * Records the user's decision on a pending request, once.
 * @returns `true` when recorded; `false` when the code is malformed, unknown, expired or already
 *   decided, or lookups are throttled.
 * @throws ConfigurationError for an approval without `userId`, with a scope that was not requested,
 *   or with an `authTime` that is not a valid past `Date`.
 */
export async function completeDeviceAuthorization<U extends User, C extends Client>(
  e: Engine<U, C>,
  throttle: LookupThrottle,
  input: string,
  decision: DeviceAuthorizationDecision,
): Promise<boolean> {
  const approved = decision?.approved === true;
  if (approved && (typeof decision.userId !== 'string' || decision.userId === '')) {
    throw new ConfigurationError(
      'Portcullis: completeDeviceAuthorization was told the user approved, but names no user: pass { approved: true, userId }',
    );
  }
  const authTime = approved ? checkedAuthTime(decision.authTime, 'completeDeviceAuthorization') : undefined;
  if (throttle.blocked()) return false;
  const userCode = normalizeUserCode(input);
  const record = userCode === null ? null : await e.s.devices!.findDeviceCode(userCode);
  if (userCode === null || record === null || record.status !== 'pending' || record.expiresAt.getTime() <= Date.now()) {
    return failed(e, throttle) !== null;
  }
  let answer: DeviceDecision;
  if (approved) {
    const scopes = decision.scopes ?? record.scopes;
    for (const s of scopes) {
      if (!record.scopes.includes(s)) {
        throw new ConfigurationError('Portcullis: completeDeviceAuthorization may grant only scopes the device requested');
      }
    }
    answer =
      authTime === undefined
        ? { approved: true, userId: decision.userId!, scopes: [...new Set(scopes)] }
        : { approved: true, userId: decision.userId!, scopes: [...new Set(scopes)], authTime };
  } else {
    answer = { approved: false, userId: decision?.userId ?? null };
  }
  return (await e.s.devices!.decideDeviceCode(userCode, answer)) !== null;
}

/** Counts a failed lookup (warning once when the limit is reached); always `null`. */
function failed<U extends User, C extends Client>(e: Engine<U, C>, throttle: LookupThrottle): null {
  if (throttle.fail()) {
    e.o.logger.warn(
      `device user code lookups: ${e.o.device.maxLookupFailures} failures within ${e.o.device.lookupWindow} s; lookups are refused until the window ends`,
    );
  }
  return null;
}
