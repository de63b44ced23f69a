// Shared by the registry and chain routes: refusals of the control plane as admin errors, and
// who made a change.

import { ControlError } from '../../registry/errors.js';
import { StoreError } from '../../store/store.js';
import { AdminError, type AdminRequest } from '../route.js';

/** Runs a registry or chain operation; its ControlError becomes the admin's answer, a store that failed a 503 with the reason. */
export async function control<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof ControlError) throw new AdminError(error.status, error.message);
    if (error instanceof StoreError) throw new AdminError(503, error.message);
    throw error;
  }
}

/** The token's name, for history and logs ("anonymous" when the admin API has no token). */
export function changedBy(request: AdminRequest): string {
  return request.caller ?? 'anonymous';
}

/** A JSON request body; an empty body is `empty`. */
export async function jsonBody(request: AdminRequest, empty: unknown): Promise<unknown> {
  const body = await request.body();
  if (body.length === 0) return empty;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new AdminError(400, `the body is not JSON (${(error as Error).message})`);
  }
}
