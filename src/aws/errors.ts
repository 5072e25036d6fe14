/** Named errors of the AWS adapters: the caller branches on the class, never on message text. */

/** A value the adapter refuses to send to AWS (moto would accept it; AWS might, with bad effects). */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The listener or rule is not shaped the way the controller needs (no forward action, unknown target groups). */
export class TrafficShapeError extends Error {
  override readonly name = "TrafficShapeError";
}

/** A conditional write lost: someone else changed the item first. Re-read and re-decide. */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
}
