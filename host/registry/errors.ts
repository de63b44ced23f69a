// A refusal from the registry or the chain control, with the HTTP status the admin API answers
// it with (the registry is reached through HTTP only, so the status is part of its contract).

export class ControlError extends Error {
  constructor(
    /** 400 malformed, 404 unknown, 409 in use / nothing to do, 412 stale If-Match, 413 too large, 422 refused, 503 store down. */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}
